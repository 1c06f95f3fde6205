/// The `validated` object of a deposit (and of a transfer's deposit half):
/// the request in canonical spelling, as tok-validate and tok-verify resolved it.
/// `{"network","account","token","asset","tx"}`
public struct ValidatedDeposit: Sendable, Equatable {
    public enum Key {
        public static let network = "network"
        public static let account = "account"
        public static let token = "token"
        public static let asset = "asset"
        public static let tx = "tx"
    }

    /// CAIP-2 of the source chain.
    public var network: String
    /// CAIP-10 of the depositor: the account credited.
    public var account: String
    public var token: String
    /// CAIP-19 of the asset paid.
    public var asset: String
    public var tx: String

    public init(network: String, account: String, token: String, asset: String, tx: String) {
        self.network = network
        self.account = account
        self.token = token
        self.asset = asset
        self.tx = tx
    }

    public init(_ deposit: ResolvedDeposit) {
        self.init(
            network: deposit.network.chainText, account: deposit.account, token: deposit.mapping.token,
            asset: deposit.mapping.assetText, tx: deposit.tx)
    }

    /// Writes the members into `object` (a transfer's validated object holds its payout's too).
    public func write(into object: JSON = JSON.object()) -> JSON {
        object.set(Key.network, string: network)
        object.set(Key.account, string: account)
        object.set(Key.token, string: token)
        object.set(Key.asset, string: asset)
        object.set(Key.tx, string: tx)
        return object
    }

    public static func read(_ reader: FieldReader) throws(TokError) -> ValidatedDeposit {
        ValidatedDeposit(
            network: try reader.string(Key.network), account: try reader.string(Key.account),
            token: try reader.string(Key.token), asset: try reader.string(Key.asset), tx: try reader.string(Key.tx))
    }
}
