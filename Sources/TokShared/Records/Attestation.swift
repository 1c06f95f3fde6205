/// Tamper-evident hand-off between stages. A stage that vouches for facts it
/// checked on a chain (tok-verify for deposits) attaches
/// `"attestation":{"stage":…,"key_id":…,"mac":…}`, an HMAC-SHA256 under the
/// operator's secret over the whole record in canonical form. tok-apply credits
/// only records whose attestation it can recompute, so an edited or forged
/// line in a spool file cannot mint credit.
///
/// Canonical form: the record without its `attestation` field, serialised by
/// jansson compactly with keys sorted at every level. The MAC input is
/// prefixed with a version, the attesting stage and the key id, so an
/// attestation made by one stage can never pass as another's.
public struct Attestor: Sendable {
    public let keyId: String
    private let secret: [UInt8]

    public static let version = "tok-attest-v1"

    public init(settings: TokConfig.AttestationSettings) {
        precondition(settings.secret.count >= TokConfig.minimumSecretBytes)
        self.keyId = settings.keyId
        self.secret = settings.secret
    }

    public func attest(_ record: JSON, stage: StageName) {
        record.remove(Field.attestation)
        let mac = self.mac(record, stage: stage)
        let attestation = JSON.object()
        attestation.set("stage", string: stage.rawValue)
        attestation.set("key_id", string: keyId)
        attestation.set("mac", string: Hex.encode(mac))
        record.set(Field.attestation, attestation)
    }

    /// Checks the record's attestation by `stage`; the record is left as it was.
    public func check(_ record: JSON, stage: StageName) throws(TokError) {
        guard let attestation = record[Field.attestation], attestation.isObject else {
            throw TokError(.attestationMissing, "the record carries no attestation from tok-\(stage.rawValue)")
        }
        // string(at:) reads members without wrapping each in a JSON object: this runs for every record.
        guard attestation.string(at: "stage") == stage.rawValue else {
            throw TokError(.attestationInvalid, "the attestation is not from tok-\(stage.rawValue)")
        }
        guard attestation.string(at: "key_id") == keyId else {
            throw TokError(
                .attestationInvalid,
                "the attestation names key \(attestation.string(at: "key_id") ?? "?"), this engine holds \(keyId)")
        }
        guard let macText = attestation.string(at: "mac"), let claimed = Hex.decode(macText), claimed.count == 32 else {
            throw TokError(.attestationInvalid, "the attestation's mac is not 32 bytes of hex")
        }
        record.remove(Field.attestation)
        let expected = mac(record, stage: stage)
        record.set(Field.attestation, attestation)
        guard Hashing.constantTimeEqual(claimed, expected) else {
            throw TokError(
                .attestationInvalid,
                "the record does not match its attestation: it was changed after tok-\(stage.rawValue)")
        }
    }

    private func mac(_ record: JSON, stage: StageName) -> [UInt8] {
        var input: [UInt8] = []
        // Records are mostly under 1 KiB: one allocation instead of a growth step per doubling.
        input.reserveCapacity(1024)
        input.append(contentsOf: Attestor.version.utf8)
        input.append(UInt8(ascii: "\n"))
        input.append(contentsOf: stage.rawValue.utf8)
        input.append(UInt8(ascii: "\n"))
        input.append(contentsOf: keyId.utf8)
        input.append(UInt8(ascii: "\n"))
        record.serialize(into: &input, sortKeys: true)
        return Hashing.hmacSHA256(key: secret, message: input)
    }
}
