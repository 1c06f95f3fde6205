/// A nonce filler request (`op: nonce_fill`), as tok-apply emits it for a
/// released nonce that later payouts are waiting behind:
///   {"op":"nonce_fill","id":"nonce-fill:<chain>:<sender>:<nonce>","status":"validated",
///    "validated":{"network":…,"sender":…,"nonce":…},"attestation":{…tok-apply…}}
/// Only tok-apply creates them (tok-verify checks its attestation), so nobody
/// can make the operator sign at a nonce the ledger did not release.
public struct NonceFill: Sendable {
    public var requestId: String
    public var network: NetworkConfig
    public var sender: String
    public var nonce: UInt64
    /// The network's native coin: the filler moves zero of it.
    public var mapping: AssetMapping

    public static func requestId(chain: String, sender: String, nonce: UInt64) -> String {
        "nonce-fill:\(chain):\(sender):\(nonce)"
    }

    public static func record(chain: String, sender: String, nonce: UInt64, attestor: Attestor) -> JSON {
        let record = JSON.object()
        record.set(Field.op, string: Op.nonceFill.rawValue)
        record.set(Field.id, string: requestId(chain: chain, sender: sender, nonce: nonce))
        let validated = JSON.object()
        validated.set("network", string: chain)
        validated.set("sender", string: sender)
        validated.set("nonce", integer: Int64(nonce))
        record.set(Field.validated, validated)
        record.set(Field.status, string: RecordStatus.validated.rawValue)
        attestor.attest(record, stage: .apply)
        return record
    }

    public static func read(_ record: JSON, attestor: Attestor, config: TokConfig) throws(TokError) -> NonceFill {
        if record.status == .validated { try attestor.check(record, stage: .apply) }
        guard let validated = record[Field.validated], let chainText = validated.string(at: "network"),
            let sender = validated.string(at: "sender"), let nonce = validated["nonce"]?.int64Value, nonce >= 0
        else {
            throw TokError(.missingField, "a nonce_fill record needs validated.network, sender and nonce")
        }
        guard let chain = try? ChainId(parsing: chainText), let network = config.network(chain: chain) else {
            throw TokError(.unknownNetwork, "network \(chainText) is not configured")
        }
        guard let mapping = network.assets.first(where: { $0.isNative }) else {
            throw TokError(.assetNotConfigured, "network \(network.alias) maps no native coin to pay a nonce filler in")
        }
        return NonceFill(
            requestId: try RequestResolver.checkRequestId(record), network: network, sender: sender,
            nonce: UInt64(nonce), mapping: mapping)
    }
}
