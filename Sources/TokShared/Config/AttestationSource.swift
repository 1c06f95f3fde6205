/// Where the attestation secret comes from, as the config says. Only the
/// stages that attest or check attestations (tok-verify, tok-apply,
/// tok-submit) resolve it, through `resolve()`: tok-validate never reads the
/// secret, so it runs without one (and without the right to read its file).
public struct AttestationSource: Sendable {
    enum Origin: Sendable {
        /// `secret = "…"` in the config.
        case inline(String)
        /// `secret_env = "NAME"`.
        case variable(String)
        /// `secret_file = "PATH"`.
        case file(String)
        /// No source in the config: TOK_ATTESTATION_SECRET, if set.
        case processDefault
    }

    let configFile: String
    /// `key_id` of the [attestation] section, when it has one.
    let sectionKeyId: String?
    let origin: Origin
    let environment: [String: String]

    /// The secret and its key id, or nil when none is configured at all. A
    /// source that is named but unusable (unset variable, unreadable or
    /// world-readable file, a secret under 32 bytes) is a ConfigError naming its key.
    public func resolve() throws(ConfigError) -> TokConfig.AttestationSettings? {
        let secret: String
        var key = "attestation.secret"
        switch origin {
        case .inline(let text):
            secret = text
        case .variable(let name):
            guard let value = environment[name] else {
                throw error("attestation.secret_env", "environment variable \(name) is not set")
            }
            secret = value
        case .file(let path):
            // Whoever can read the secret can forge "verified" deposits: owner only, as for key files.
            if let problem = ownerOnlyProblem(path) { throw error("attestation.secret_file", problem) }
            do { secret = try readTextFile(path).trimmingWhitespace() } catch {
                throw self.error("attestation.secret_file", "cannot read \(path): \(error)")
            }
        case .processDefault:
            guard let value = environment["TOK_ATTESTATION_SECRET"] else { return nil }
            secret = value
            key = "TOK_ATTESTATION_SECRET"
        }
        guard secret.utf8.count >= TokConfig.minimumSecretBytes else {
            throw error(key, "the attestation secret must be at least \(TokConfig.minimumSecretBytes) bytes")
        }
        // The section's key_id wins; TOK_ATTESTATION_KEY_ID names the key only when the section names none.
        let keyId: String
        if case .processDefault = origin {
            keyId = sectionKeyId ?? environment["TOK_ATTESTATION_KEY_ID"] ?? "default"
        } else {
            keyId = sectionKeyId ?? "default"
        }
        return TokConfig.AttestationSettings(keyId: keyId, secret: Array(secret.utf8))
    }

    private func error(_ key: String, _ problem: String) -> ConfigError {
        ConfigError(file: configFile, key: key, problem: problem)
    }
}
