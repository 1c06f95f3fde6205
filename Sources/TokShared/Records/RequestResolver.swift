/// A deposit request checked against the config, every identifier in its
/// canonical spelling. This is what the `validated` object of a record holds.
public struct ResolvedDeposit: Sendable {
    public var requestId: String
    public var network: NetworkConfig
    public var mapping: AssetMapping
    /// Canonical address on the chain, without the CAIP-2 prefix.
    public var address: String
    public var tx: String

    /// The CAIP-10 account id that balances are keyed by.
    public var account: String { network.chainText + ":" + address }

    public var claim: DepositClaim {
        DepositClaim(tx: tx, sender: address, mapping: mapping, receiver: network.receiver)
    }

    public func validatedObject() -> JSON {
        let object = JSON.object()
        object.set("network", string: network.chainText)
        object.set("account", string: account)
        object.set("token", string: mapping.token)
        object.set("asset", string: mapping.assetText)
        object.set("tx", string: tx)
        return object
    }
}

/// An account and token named by a balance query.
public struct ResolvedAccountToken: Sendable {
    public var account: String
    public var token: String
}

/// Turns request records (TokEngine's REST bodies plus `op` and `id`) into
/// resolved requests. Shared by tok-validate, tok-verify and tok-apply so the
/// three can never disagree on what a request means.
public struct RequestResolver: Sendable {
    public let config: TokConfig

    public init(config: TokConfig) { self.config = config }

    public static let maxRequestIdLength = 128

    public static func checkRequestId(_ record: JSON) throws(TokError) -> String {
        guard let id = record.string(at: Field.id) else {
            if record.has(Field.id) { throw TokError(.badFieldType, "id must be a string") }
            throw TokError(.missingField, "id is required")
        }
        let allowed = !id.isEmpty && id.utf8.count <= maxRequestIdLength && id.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2E || byte == 0x5F || byte == 0x3A || byte == 0x2D
        }
        guard allowed else {
            throw TokError(.badRequestId, "id must be 1-\(maxRequestIdLength) characters of A-Z a-z 0-9 . _ : -")
        }
        return id
    }

    public static func op(of record: JSON) throws(TokError) -> Op {
        guard let text = record.string(at: Field.op) else {
            if record.has(Field.op) { throw TokError(.badFieldType, "op must be a string") }
            throw TokError(.missingField, "op is required")
        }
        guard let op = Op(rawValue: text) else {
            throw TokError(.unknownOp, "op \"\(text)\" is not one of \(Op.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return op
    }

    static func requiredObject(_ record: JSON, _ key: String) throws(TokError) -> JSON {
        guard let value = record[key], !value.isNull else { throw TokError(.missingField, "\(key) is required") }
        guard value.isObject else { throw TokError(.badFieldType, "\(key) must be an object") }
        return value
    }

    static func requiredString(_ object: JSON, _ key: String, path: String) throws(TokError) -> String {
        if let text = object.string(at: key), !text.isEmpty { return text }
        guard let kind = object.kind(at: key), kind != .null else { throw TokError(.missingField, "\(path).\(key) is required") }
        throw TokError(.badFieldType, "\(path).\(key) must be a non-empty string")
    }

    static func optionalString(_ object: JSON, _ key: String, path: String) throws(TokError) -> String? {
        if let text = object.string(at: key), !text.isEmpty { return text }
        guard let kind = object.kind(at: key), kind != .null else { return nil }
        throw TokError(.badFieldType, "\(path).\(key) must be a non-empty string")
    }

    /// Resolves `{account, network, token}` as found in `source` and `destination`.
    /// `network` may be an alias or a CAIP-2 id, and may be left out when the
    /// account is a CAIP-10 id; `account` may be a bare address or CAIP-10.
    func resolveEndpoint(_ object: JSON, path: String) throws(TokError) -> (NetworkConfig, String, AssetMapping) {
        let accountText = try RequestResolver.requiredString(object, "account", path: path)
        let networkText = try RequestResolver.optionalString(object, "network", path: path)
        let tokenText = try RequestResolver.requiredString(object, "token", path: path)

        var accountChain: ChainId?
        var addressText = accountText
        if accountText.utf8.contains(UInt8(ascii: ":")) {
            let account: AccountId
            do { account = try AccountId(parsing: accountText) } catch { throw error }
            accountChain = account.chain
            addressText = account.address
        }
        let network: NetworkConfig
        if let networkText {
            if networkText.utf8.contains(UInt8(ascii: ":")) {
                do { _ = try ChainId(parsing: networkText) } catch { throw error }
            }
            guard let found = config.network(named: networkText) else {
                throw TokError(.unknownNetwork, "network \(networkText) is not configured")
            }
            network = found
        } else if let accountChain {
            guard let found = config.network(chain: accountChain) else {
                throw TokError(.unknownNetwork, "network \(accountChain) is not configured")
            }
            network = found
        } else {
            throw TokError(.missingField, "\(path).network is required when \(path).account is not a CAIP-10 id")
        }
        if let accountChain, accountChain != network.chain {
            throw TokError(.accountNetworkMismatch, "\(path).account is on \(accountChain) but \(path).network is \(network.chain)")
        }
        let address = try network.family.canonicalAddress(addressText, chain: network.chain)
        let mapping = try config.assetMapping(token: tokenText, on: network)
        return (network, address, mapping)
    }

    public func resolveDeposit(_ record: JSON) throws(TokError) -> ResolvedDeposit {
        let id = try RequestResolver.checkRequestId(record)
        let source = try RequestResolver.requiredObject(record, Field.source)
        let (network, address, mapping) = try resolveEndpoint(source, path: Field.source)
        guard mapping.depositEnabled else {
            throw TokError(.depositDisabled, "deposits of \(mapping.token) on \(network.alias) are disabled")
        }
        let deposit = try RequestResolver.requiredObject(record, Field.deposit)
        let txText = try RequestResolver.requiredString(deposit, "tx", path: Field.deposit)
        let tx = try network.family.canonicalTxId(txText)
        return ResolvedDeposit(requestId: id, network: network, mapping: mapping, address: address, tx: tx)
    }

    /// `{"op":"balance","id":…,"source":{account, network, token}}`; the
    /// endpoint fields may also sit at the top level.
    public func resolveBalanceQuery(_ record: JSON) throws(TokError) -> ResolvedAccountToken {
        _ = try RequestResolver.checkRequestId(record)
        let holder = record[Field.source].flatMap { $0.isObject ? $0 : nil } ?? record
        let (network, address, mapping) = try resolveEndpoint(holder, path: holder === record ? "" : Field.source)
        return ResolvedAccountToken(account: "\(network.chain):\(address)", token: mapping.token)
    }
}
