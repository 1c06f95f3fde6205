/// The `validated` object of a payout (and the payout members of a
/// transfer's): amounts in ledger units except `destination_amount`
/// (destination base units), both accounts CAIP-10, `expires` Unix seconds.
public struct ValidatedPayout: Sendable, Equatable {
    public enum Key {
        public static let account = "account"
        public static let network = "network"
        public static let token = "token"
        public static let quantity = "quantity"
        public static let fee = "fee"
        public static let destination = "destination"
        public static let destinationNetwork = "destination_network"
        public static let destinationAsset = "destination_asset"
        public static let destinationAmount = "destination_amount"
        public static let expires = "expires"
    }

    public var account: String
    public var network: String
    public var token: String
    public var quantity: UInt256
    public var fee: UInt256
    public var destination: String
    public var destinationNetwork: String
    public var destinationAsset: String
    public var destinationAmount: UInt256
    /// Nil on records re-emitted by reconciliation (already prepared: no expiry applies).
    public var expiresUnixSeconds: Int64?

    public init(
        account: String, network: String, token: String, quantity: UInt256, fee: UInt256, destination: String,
        destinationNetwork: String, destinationAsset: String, destinationAmount: UInt256, expiresUnixSeconds: Int64?
    ) {
        self.account = account
        self.network = network
        self.token = token
        self.quantity = quantity
        self.fee = fee
        self.destination = destination
        self.destinationNetwork = destinationNetwork
        self.destinationAsset = destinationAsset
        self.destinationAmount = destinationAmount
        self.expiresUnixSeconds = expiresUnixSeconds
    }

    public init(_ payout: ResolvedPayout) {
        self.init(
            account: payout.account, network: payout.sourceNetwork.chainText, token: payout.token,
            quantity: payout.quantity, fee: payout.fee, destination: payout.destinationAccount,
            destinationNetwork: payout.destinationNetwork.chainText,
            destinationAsset: payout.destinationMapping.assetText,
            destinationAmount: payout.destinationAmount, expiresUnixSeconds: payout.authorisation.expiresUnixSeconds)
    }

    /// What reconciliation re-emits for a recorded payout (no network, no expiry).
    public init(row: PayoutRow) {
        self.init(
            account: row.account, network: "", token: row.token, quantity: row.quantity, fee: row.fee,
            destination: row.destination, destinationNetwork: row.destinationChain,
            destinationAsset: row.destinationAsset,
            destinationAmount: row.destinationAmount, expiresUnixSeconds: nil)
    }

    public func write(into object: JSON = JSON.object()) -> JSON {
        object.set(Key.account, string: account)
        if !network.isEmpty { object.set(Key.network, string: network) }
        object.set(Key.token, string: token)
        object.set(Key.quantity, string: quantity.description)
        object.set(Key.fee, string: fee.description)
        object.set(Key.destination, string: destination)
        object.set(Key.destinationNetwork, string: destinationNetwork)
        object.set(Key.destinationAsset, string: destinationAsset)
        object.set(Key.destinationAmount, string: destinationAmount.description)
        if let expiresUnixSeconds { object.set(Key.expires, integer: expiresUnixSeconds) }
        return object
    }

    public static func read(_ reader: FieldReader) throws(TokError) -> ValidatedPayout {
        ValidatedPayout(
            account: try reader.string(Key.account), network: try reader.optionalString(Key.network) ?? "",
            token: try reader.string(Key.token), quantity: try reader.amount(Key.quantity),
            fee: try reader.amount(Key.fee),
            destination: try reader.string(Key.destination),
            destinationNetwork: try reader.string(Key.destinationNetwork),
            destinationAsset: try reader.string(Key.destinationAsset),
            destinationAmount: try reader.amount(Key.destinationAmount),
            expiresUnixSeconds: try reader.optionalCount(Key.expires))
    }
}
