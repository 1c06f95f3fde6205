#if canImport(Glibc)
import Glibc
#endif

/// Loads the operator's signing keys for tok-verify. A key file must be
/// readable by its owner only (mode 0600 or stricter): a key that other users
/// can read is refused rather than used. Keys never appear in logs or output
/// (PrivateKey redacts itself).
///
/// A key is 64 hex digits (0x optional); on a Bitcoin-family chain it may
/// also be the WIF text its node's `dumpprivkey` prints.
public enum OperatorKeys {
    static func parse(_ text: String, network: NetworkConfig) throws(TokError) -> PrivateKey {
        let digits = text.hasPrefix("0x") ? text.dropFirst(2) : Substring(text)
        let isHex = digits.utf8.count == 64 && Hex.decode(digits) != nil
        guard !isHex, let parameters = UTXOChains.parameters(for: network.chain) else {
            return try PrivateKey(hex: text)
        }
        let (key, compressed) = try WIF.decode(text, chain: parameters)
        guard compressed else {
            // tok pays from, and signs for, the compressed key's P2PKH address.
            throw TokError(
                .badKey, "the operator key of \(network.alias) is an uncompressed WIF key; export a compressed one")
        }
        return key
    }

    public static func load(for network: NetworkConfig, environment: [String: String]) throws(TokError) -> PrivateKey {
        let text: String
        if let path = network.operatorKeyFile {
            if let problem = ownerOnlyProblem(path) {
                throw TokError(.badKey, "operator key file of \(network.alias): \(problem)")
            }
            do { text = try readTextFile(path) } catch {
                throw TokError(.badKey, "cannot read operator key file \(path): \(error)")
            }
        } else if let variable = network.operatorKeyEnv {
            guard let value = environment[variable] else {
                throw TokError(
                    .badKey, "environment variable \(variable) (operator key of \(network.alias)) is not set")
            }
            text = value
        } else {
            throw TokError(
                .badKey,
                "network \(network.alias) has no operator_key_file or operator_key_env; payouts cannot be signed")
        }
        let key = try parse(text.trimmingWhitespace(), network: network)
        let address = network.family.address(of: key, chain: network.chain)
        if let configured = network.operatorAddress, configured != address {
            throw TokError(
                .badKey, "the operator key of \(network.alias) belongs to \(address), but operator is \(configured)")
        }
        return key
    }
}
