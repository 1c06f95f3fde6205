import Logging

/// What a deposit request claims, resolved against the config: "account sent
/// `asset` to our receiver in transaction `tx`". Plain values, safe to hand to
/// concurrent chain I/O.
public struct DepositClaim: Sendable {
    public var tx: String
    /// Canonical address on the chain, without the CAIP-2 prefix.
    public var sender: String
    public var mapping: AssetMapping
    public var receiver: String
}

/// What the chain says about a claim that checked out.
public struct DepositFinding: Sendable, Equatable {
    public var amount: UInt256
    public var blockHash: String
    public var blockNumber: UInt64
    public var confirmations: UInt64
    public var requiredConfirmations: Int
    /// UTXO chains: the outputs paying the receiver (which become the
    /// operator's coins once the deposit is credited).
    public var coins: [Coin] = []

    public var isFinal: Bool { confirmations >= UInt64(requiredConfirmations) }
}

/// Verifies deposit claims against one network. Batched so a family can use
/// its RPC's batch calls; one result per claim, in order.
public protocol DepositVerifier: Sendable {
    func verify(_ claims: [DepositClaim]) async -> [Result<DepositFinding, TokError>]
}

/// A chain family (EVM, Bitcoin-family UTXO, ...) is the code that differs
/// between chains; everything per-chain beyond it is data in the config or in
/// the chain table. Kept small on purpose.
public protocol ChainFamily: Sendable {
    /// The CAIP-2 namespace this family serves.
    var namespace: String { get }
    /// Validates an address and returns its one canonical spelling, used as a key.
    func canonicalAddress(_ text: String, chain: ChainId) throws(TokError) -> String
    /// Validates a transaction id and returns its canonical spelling.
    func canonicalTxId(_ text: String) throws(TokError) -> String
    /// Refuses asset namespaces the family cannot verify.
    func checkAssetSupported(_ asset: AssetType) throws(TokError)
    func depositVerifier(for network: NetworkConfig, logger: Logger) -> DepositVerifier
    /// Checks that `signature` over the text `message` was made by the key of
    /// `address` (EIP-191 personal_sign on eip155, signmessage on bip122).
    func verifyMessageSignature(message: String, signature: String, address: String, chain: ChainId) throws(TokError)
    /// The address a private key pays from on this chain.
    func address(of key: PrivateKey, chain: ChainId) -> String
    /// Builds, signs, broadcasts and follows payouts on the network.
    func payoutChannel(for network: NetworkConfig, logger: Logger) -> PayoutChannel

    /// The `[[networks]]` keys only this family understands, so the same key on
    /// another family's network is named as belonging here, not as unknown.
    var settingKeys: [String] { get }
    /// Reads those keys of one network (and checks rules only this family has).
    func parseSettings(_ section: inout TOMLReader, network: NetworkIdentity) throws -> any NetworkFamilySettings
}

/// A network's settings that only its chain family reads (fee caps, relay
/// policy); the family's own code casts them back to its type.
public protocol NetworkFamilySettings: Sendable {}

/// What a family may know of a network while it reads its settings.
public struct NetworkIdentity: Sendable {
    public let alias: String
    public let chain: ChainId
    /// Canonical addresses.
    public let receiver: String
    public let operatorAddress: String?
}

public enum ChainFamilies {
    public static let all: [ChainFamily] = [EVMFamily(), UTXOFamily()]

    public static func family(for namespace: String) -> ChainFamily? {
        all.first { $0.namespace == namespace }
    }
}
