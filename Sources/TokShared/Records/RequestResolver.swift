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

    /// Room for the longest id tok makes itself: `resolved:` + the longest CAIP-2 chain id (41 characters) + `:` +
    /// an EVM transaction hash (66) + `:` + an ERC-20 contract (42) is 160 characters.
    public static let maxRequestIdLength = 192

    public static func checkRequestId(_ record: JSON) throws(TokError) -> String {
        guard let id = record.string(at: Field.id) else {
            if record.has(Field.id) { throw TokError(.badFieldType, "id must be a string") }
            throw TokError(.missingField, "id is required")
        }
        let allowed =
            !id.isEmpty && id.utf8.count <= maxRequestIdLength
            && id.utf8.allSatisfy { byte in
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
            throw TokError(
                .unknownOp, "op \"\(text)\" is not one of \(Op.allCases.map(\.rawValue).joined(separator: ", "))")
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
        guard let kind = object.kind(at: key), kind != .null else {
            throw TokError(.missingField, "\(path).\(key) is required")
        }
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
        if UTF8Scan.contains(UInt8(ascii: ":"), in: accountText) {
            let account: AccountId
            do { account = try AccountId(parsing: accountText) } catch { throw error }
            accountChain = account.chain
            addressText = account.address
        }
        let network: NetworkConfig
        if let networkText {
            if UTF8Scan.contains(UInt8(ascii: ":"), in: networkText) {
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
            throw TokError(
                .accountNetworkMismatch, "\(path).account is on \(accountChain) but \(path).network is \(network.chain)"
            )
        }
        let address = try network.family.canonicalAddress(addressText, chain: network.chain)
        let mapping = try config.assetMapping(token: tokenText, on: network)
        return (network, address, mapping)
    }

    public func resolveDeposit(_ record: JSON) throws(TokError) -> ResolvedDeposit {
        // A saved TokEngine body has no id: one is derived from what the deposit is (see below).
        let givenId = record.has(Field.id) ? try RequestResolver.checkRequestId(record) : nil
        let source = try RequestResolver.requiredObject(record, Field.source)
        let (network, address, mapping) = try resolveEndpoint(source, path: Field.source)
        guard mapping.depositEnabled else {
            throw TokError(.depositDisabled, "deposits of \(mapping.token) on \(network.alias) are disabled")
        }
        let deposit = try RequestResolver.requiredObject(record, Field.deposit)
        let txText = try RequestResolver.requiredString(deposit, "tx", path: Field.deposit)
        let tx = try network.family.canonicalTxId(txText)
        let id: String
        if let givenId {
            id = givenId
        } else {
            id = try RequestResolver.derivedDepositId(chain: network.chainText, tx: tx)
        }
        return ResolvedDeposit(requestId: id, network: network, mapping: mapping, address: address, tx: tx)
    }

    /// The request id of a deposit that names none: `deposit:` + CAIP-2 chain +
    /// `:` + canonical transaction id. Stable (the same deposit gets the same id
    /// however its network and transaction were spelt), so replaying a saved
    /// body is a replay. It names no asset (with one the id would not fit in
    /// 128 characters on most EVM chains): a second asset of one transaction
    /// needs an id given with it, or tok-apply refuses it as conflicting.
    public static func derivedDepositId(chain: String, tx: String) throws(TokError) -> String {
        let id = "deposit:" + chain + ":" + tx
        guard id.utf8.count <= maxRequestIdLength else {
            throw TokError(
                .missingField,
                "id is required (the derived id deposit:CHAIN:TX would be over \(maxRequestIdLength) characters)")
        }
        return id
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

/// A payout request checked against the config: both endpoints canonical, the
/// quantity converted exactly into ledger and destination units, the fee known.
public struct ResolvedPayout: Sendable {
    public var requestId: String
    public var sourceNetwork: NetworkConfig
    public var sourceAddress: String
    public var sourceMapping: AssetMapping
    public var destinationNetwork: NetworkConfig
    public var destinationAddress: String
    public var destinationMapping: AssetMapping
    /// Ledger units of the token.
    public var quantity: UInt256
    public var fee: UInt256
    /// Destination base units: what the destination transaction moves.
    public var destinationAmount: UInt256
    public var authorisation: PayoutAuthorisation
    public var signature: String

    public var token: String { sourceMapping.token }
    public var account: String { sourceNetwork.chainText + ":" + sourceAddress }
    public var destinationAccount: String { destinationNetwork.chainText + ":" + destinationAddress }
    /// Who pays on the destination chain.
    public var sender: String? { destinationMapping.treasury ?? destinationNetwork.operatorAddress }
    /// Quantity plus fee: what prepare locks (the resolver refused a sum that overflows).
    public var debit: UInt256 { quantity.adding(fee) ?? .max }
}

/// A transfer: a deposit and a payout of the deposited token in one request.
public struct ResolvedTransfer: Sendable {
    public var deposit: ResolvedDeposit
    public var payout: ResolvedPayout
}

extension RequestResolver {
    /// Authorisations may not reach further than this into the future.
    public static let maxAuthorisationSeconds: Int64 = 30 * 24 * 3600

    /// Reads an amount field: a decimal string, or a JSON integer when exact.
    static func amount(_ record: JSON, _ key: String, path: String) throws(TokError) -> UInt256 {
        guard let kind = record.kind(at: key), kind != .null else {
            throw TokError(.missingField, "\(path) is required")
        }
        switch kind {
        case .string:
            do { return try UInt256(decimal: record.string(at: key)!) } catch {
                throw TokError(error.code, "\(path): \(error.message)")
            }
        case .integer:
            let value = record[key]!.int64Value!
            guard value >= 0 else { throw TokError(.amountNegative, "\(path) is negative") }
            return UInt256(UInt64(value))
        case .real:
            throw TokError(.amountNotExact, "\(path) is a JSON real; send base units as a decimal string")
        default:
            throw TokError(.amountNotNumeric, "\(path) must be a base-unit decimal string")
        }
    }

    /// `requireSignature: false` resolves an unsigned request, to produce the
    /// message its source account must sign (`tok-validate --payout-message`).
    public func resolvePayout(
        _ record: JSON, nowUnixSeconds: Int64, requireSignature: Bool = true
    ) throws(TokError) -> ResolvedPayout {
        let id = try RequestResolver.checkRequestId(record)
        let source = try RequestResolver.requiredObject(record, Field.source)
        let (sourceNetwork, sourceAddress, sourceMapping) = try resolveEndpoint(source, path: Field.source)
        let destination = try RequestResolver.requiredObject(record, Field.destination)
        let (destinationNetwork, destinationAddress, destinationMapping) = try resolveEndpoint(
            destination, path: Field.destination)
        guard sourceMapping.token == destinationMapping.token else {
            throw TokError(
                .tokenMismatch,
                "source token \(sourceMapping.token) and destination token \(destinationMapping.token) differ")
        }
        guard destinationMapping.payoutEnabled else {
            throw TokError(
                .payoutDisabled, "payouts of \(destinationMapping.token) on \(destinationNetwork.alias) are disabled")
        }
        guard let token = config.token(alias: sourceMapping.token) else {
            throw TokError(.unknownToken, "token \(sourceMapping.token) is not configured")
        }

        // Amounts: source units in the request, ledger units in the books, destination units on chain.
        let quantityInSource = try RequestResolver.amount(record, Field.quantity, path: Field.quantity)
        guard !quantityInSource.isZero else { throw TokError(.belowMinimum, "quantity is zero") }
        let quantity = try UInt256.convert(
            quantityInSource, fromDecimals: sourceMapping.decimals, toDecimals: token.decimals,
            what: "quantity (in the ledger's units)")
        guard
            let destinationAmount = UInt256.convertExactly(
                quantity, fromDecimals: token.decimals, toDecimals: destinationMapping.decimals)
        else {
            throw TokError(
                .amountNotExact,
                "quantity \(quantityInSource) (\(sourceMapping.decimals) decimals) has no exact equivalent in \(destinationMapping.decimals) decimals on \(destinationNetwork.alias)"
            )
        }
        guard quantity >= destinationMapping.minimumPayout else {
            throw TokError(
                .belowMinimum,
                "quantity is below the minimum payout of \(destinationMapping.minimumPayout) (ledger units)")
        }
        guard let fee = destinationMapping.payoutFee(quantity: quantity), quantity.adding(fee) != nil else {
            throw TokError(.amountOverflow, "quantity plus fee overflows")
        }
        let maxFeeInSource = try RequestResolver.amount(record, "max_fee", path: "max_fee")
        let maxFee = try UInt256.convert(
            maxFeeInSource, fromDecimals: sourceMapping.decimals, toDecimals: token.decimals,
            what: "max_fee (in the ledger's units)")
        guard fee <= maxFee else {
            throw TokError(.feeExceedsMax, "the fee is \(fee) ledger units, more than max_fee \(maxFee)")
        }

        let expires = try RequestResolver.expiry(record)
        guard expires > nowUnixSeconds else { throw TokError(.expired, "the authorisation expired at \(expires)") }
        guard expires <= nowUnixSeconds + RequestResolver.maxAuthorisationSeconds else {
            throw TokError(
                .expired, "expires is more than \(RequestResolver.maxAuthorisationSeconds / 86400) days ahead")
        }
        let authorisation = PayoutAuthorisation(
            deployment: config.deployment(source: sourceNetwork), requestId: id,
            source: sourceNetwork.chainText + ":" + sourceAddress,
            destination: destinationNetwork.chainText + ":" + destinationAddress,
            token: sourceMapping.token, quantity: quantityInSource, maxFee: maxFeeInSource, expiresUnixSeconds: expires)
        let signature = requireSignature ? try RequestResolver.signature(record, expected: authorisation) : ""
        return ResolvedPayout(
            requestId: id, sourceNetwork: sourceNetwork, sourceAddress: sourceAddress, sourceMapping: sourceMapping,
            destinationNetwork: destinationNetwork, destinationAddress: destinationAddress,
            destinationMapping: destinationMapping,
            quantity: quantity, fee: fee, destinationAmount: destinationAmount, authorisation: authorisation,
            signature: signature)
    }

    public func resolveTransfer(_ record: JSON, nowUnixSeconds: Int64) throws(TokError) -> ResolvedTransfer {
        let deposit = try resolveDeposit(record)
        let payout = try resolvePayout(record, nowUnixSeconds: nowUnixSeconds)
        guard deposit.account == payout.account, deposit.mapping === payout.sourceMapping else {
            throw TokError(
                .conflictingRecord, "a transfer pays out what it deposits: source must be the same account and token")
        }
        return ResolvedTransfer(deposit: deposit, payout: payout)
    }

    /// `expires`: Unix seconds, as a JSON integer or a decimal string.
    static func expiry(_ record: JSON) throws(TokError) -> Int64 {
        if let value = record["expires"]?.int64Value { return value }
        if let text = record.string(at: "expires"), let value = Int64(text) { return value }
        if record.has("expires") { throw TokError(.badFieldType, "expires must be Unix seconds (integer)") }
        throw TokError(.missingField, "expires is required")
    }

    /// The signature: `signature`, or TokEngine's `deposit.msg` + `deposit.sig`
    /// when `msg` is exactly our canonical message.
    static func signature(_ record: JSON, expected: PayoutAuthorisation) throws(TokError) -> String {
        if let signature = record.string(at: "signature"), !signature.isEmpty { return signature }
        if let deposit = record[Field.deposit], deposit.isObject, let signature = deposit.string(at: "sig") {
            guard let message = deposit.string(at: "msg") else {
                throw TokError(.missingField, "deposit.msg is required with deposit.sig")
            }
            guard message == expected.message else {
                if message == expected.version1Message {
                    throw TokError(
                        .badSignature,
                        "deposit.msg is the \(PayoutAuthorisation.version1Header) message, which binds no deployment and is no longer accepted: sign the \(PayoutAuthorisation.header) message (tok-validate --payout-message)"
                    )
                }
                throw TokError(
                    .badSignature, "deposit.msg is not the canonical payout message for this request (see tok(7))")
            }
            return signature
        }
        throw TokError(.missingField, "signature is required (or deposit.msg and deposit.sig)")
    }
}
