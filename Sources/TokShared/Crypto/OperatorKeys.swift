#if canImport(Glibc)
import Glibc
#endif

/// Loads the operator's signing keys for tok-verify. A key file must be
/// readable by its owner only (mode 0600 or stricter): a key that other users
/// can read is refused rather than used. Keys never appear in logs or output
/// (PrivateKey redacts itself).
public enum OperatorKeys {
    public static func load(for network: NetworkConfig, environment: [String: String]) throws(TokError) -> PrivateKey {
        let text: String
        if let path = network.operatorKeyFile {
            var info = stat()
            guard stat(path, &info) == 0 else {
                throw TokError(.badKey, "operator key file \(path) of \(network.alias): \(String(cString: strerror(errno)))")
            }
            guard info.st_mode & 0o077 == 0 else {
                throw TokError(.badKey, "operator key file \(path) has mode \(String(info.st_mode & 0o777, radix: 8)); it must be 0600 (chmod 600 \(path))")
            }
            do { text = try readTextFile(path) } catch {
                throw TokError(.badKey, "cannot read operator key file \(path): \(error)")
            }
        } else if let variable = network.operatorKeyEnv {
            guard let value = environment[variable] else {
                throw TokError(.badKey, "environment variable \(variable) (operator key of \(network.alias)) is not set")
            }
            text = value
        } else {
            throw TokError(.badKey, "network \(network.alias) has no operator_key_file or operator_key_env; payouts cannot be signed")
        }
        let key = try PrivateKey(hex: text.trimmingWhitespace())
        let address = network.family.address(of: key, chain: network.chain)
        if let configured = network.operatorAddress, configured != address {
            throw TokError(.badKey, "the operator key of \(network.alias) belongs to \(address), but operator is \(configured)")
        }
        return key
    }
}
