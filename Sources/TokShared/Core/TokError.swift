/// Every failure tok reports about a record has a stable code from this list.
/// The raw values appear in output records and in man/tok.7; never rename one,
/// only add new ones.
public enum ErrorCode: String, Sendable, CaseIterable {
    // Reading the stream.
    case malformedJSON = "malformed_json"
    case notAnObject = "not_an_object"
    case lineTooLong = "line_too_long"
    case numberOutOfRange = "number_out_of_range"

    // Shape of a request.
    case missingField = "missing_field"
    case badFieldType = "bad_field_type"
    case unknownOp = "unknown_op"
    case badRequestId = "bad_request_id"
    case badRecord = "bad_record"

    // Identifiers.
    case badChainId = "bad_chain_id"
    case badAccount = "bad_account"
    case badChecksum = "bad_checksum"
    case wrongChainAddress = "wrong_chain_address"
    case badAssetType = "bad_asset_type"
    case badTxId = "bad_tx_id"
    case unknownNetwork = "unknown_network"
    case unknownToken = "unknown_token"
    case accountNetworkMismatch = "account_network_mismatch"
    case assetNotConfigured = "asset_not_configured"
    case depositDisabled = "deposit_disabled"
    case payoutDisabled = "payout_disabled"
    case unsupportedChainFamily = "unsupported_chain_family"

    // Amounts.
    case amountNotNumeric = "amount_not_numeric"
    case amountNegative = "amount_negative"
    case amountFractional = "amount_fractional"
    case amountOverflow = "amount_overflow"
    case amountNotExact = "amount_not_exact"

    // Signatures and keys.
    case badSignature = "bad_signature"
    case badKey = "bad_key"
    case badRawTx = "bad_raw_tx"

    // Payouts.
    case expired = "expired"
    case tokenMismatch = "token_mismatch"
    case belowMinimum = "below_minimum"
    case feeExceedsMax = "fee_exceeds_max"
    case insufficientBalance = "insufficient_balance"
    case nonceConflict = "nonce_conflict"
    case coinConflict = "coin_conflict"
    case insufficientCoins = "insufficient_coins"
    case networkFeeTooHigh = "network_fee_too_high"
    case unknownRequest = "unknown_request"
    case invalidTransition = "invalid_transition"
    case gasCapExceeded = "gas_cap_exceeded"
    case operatorUnderfunded = "operator_underfunded"

    // Verification against the source chain.
    case txNotFound = "tx_not_found"
    case txFailed = "tx_failed"
    case noPaymentToReceiver = "no_payment_to_receiver"
    case senderMismatch = "sender_mismatch"
    case reorganised = "reorganised"
    case rpcUnavailable = "rpc_unavailable"
    case rpcError = "rpc_error"
    case rpcUnauthorized = "rpc_unauthorized"
    case chainMismatch = "chain_mismatch"
    case badRawBlock = "bad_raw_block"

    // Applying to state.
    case attestationMissing = "attestation_missing"
    case attestationInvalid = "attestation_invalid"
    case notVerified = "not_verified"
    case balanceOverflow = "balance_overflow"
    case conflictingRecord = "conflicting_record"
    case notNextBlock = "not_next_block"
    case accountInShortfall = "account_in_shortfall"
    case databaseError = "database_error"

    case internalError = "internal_error"

    /// A retryable failure may succeed if the same record is sent again later
    /// (the chain catches up, an RPC endpoint comes back, a lock is freed).
    /// Every code is listed (no default), so a new one cannot be added unclassified.
    public var retryable: Bool {
        switch self {
        case .txNotFound, .reorganised, .rpcUnavailable, .databaseError, .insufficientBalance, .nonceConflict,
             .coinConflict, .insufficientCoins, .notNextBlock, .accountInShortfall, .rpcUnauthorized, .chainMismatch,
             .badKey, .operatorUnderfunded:
            return true
        case .malformedJSON, .notAnObject, .lineTooLong, .numberOutOfRange, .missingField, .badFieldType, .unknownOp,
             .badRequestId, .badChainId, .badAccount, .badChecksum, .wrongChainAddress, .badAssetType, .badTxId,
             .unknownNetwork, .unknownToken, .accountNetworkMismatch, .assetNotConfigured, .depositDisabled,
             .payoutDisabled, .unsupportedChainFamily, .amountNotNumeric, .amountNegative, .amountFractional,
             .amountOverflow, .amountNotExact, .badSignature, .badRawTx, .expired, .tokenMismatch,
             .belowMinimum, .feeExceedsMax, .networkFeeTooHigh, .unknownRequest, .invalidTransition, .gasCapExceeded, .txFailed,
             .noPaymentToReceiver, .senderMismatch, .rpcError, .attestationMissing,
             .attestationInvalid, .notVerified, .balanceOverflow, .conflictingRecord, .badRecord, .badRawBlock,
             .internalError:
            return false
        }
    }

    /// The request is refused for a fault of the operator's setup, not of the
    /// request: tok's RPC credentials, an endpoint serving another chain, the
    /// operator's key, the paying account's funds. Such codes are retryable
    /// (the same request succeeds once the operator acts), and a stage that
    /// refuses a record for one exits 69 so that cron tells the operator.
    /// Every code is listed, as in `retryable`.
    public var operatorFault: Bool {
        switch self {
        case .rpcUnauthorized, .chainMismatch, .badKey, .operatorUnderfunded:
            return true
        case .malformedJSON, .notAnObject, .lineTooLong, .numberOutOfRange, .missingField, .badFieldType, .unknownOp,
             .badRequestId, .badRecord, .badChainId, .badAccount, .badChecksum, .wrongChainAddress, .badAssetType, .badTxId,
             .unknownNetwork, .unknownToken, .accountNetworkMismatch, .assetNotConfigured, .depositDisabled,
             .payoutDisabled, .unsupportedChainFamily, .amountNotNumeric, .amountNegative, .amountFractional,
             .amountOverflow, .amountNotExact, .badSignature, .badRawTx, .expired, .tokenMismatch, .belowMinimum,
             .feeExceedsMax, .insufficientBalance, .nonceConflict, .coinConflict, .insufficientCoins, .networkFeeTooHigh,
             .unknownRequest, .invalidTransition, .gasCapExceeded, .txNotFound, .txFailed, .noPaymentToReceiver,
             .senderMismatch, .reorganised, .rpcUnavailable, .rpcError, .badRawBlock, .attestationMissing,
             .attestationInvalid, .notVerified, .balanceOverflow, .conflictingRecord, .notNextBlock, .accountInShortfall,
             .databaseError, .internalError:
            return false
        }
    }

    /// One line for the man page and `--help`.
    public var summary: String {
        switch self {
        case .malformedJSON: return "the line is not valid JSON (or not valid UTF-8)"
        case .notAnObject: return "the line is JSON but not an object"
        case .lineTooLong: return "the line is longer than the configured limit"
        case .numberOutOfRange: return "a JSON number does not fit a 64-bit integer; send amounts as decimal strings"
        case .missingField: return "a required field is absent"
        case .badFieldType: return "a field has the wrong JSON type or an empty value"
        case .unknownOp: return "op is not one this engine knows"
        case .badRequestId: return "id is not 1-192 characters of [A-Za-z0-9._:-]"
        case .badRecord: return "a signed token record breaks its schema (a member it does not define, a value out of its bounds)"
        case .badChainId: return "not a valid CAIP-2 chain id"
        case .badAccount: return "not a valid account address for the chain family"
        case .badChecksum: return "an address checksum (EIP-55, base58check) does not match"
        case .wrongChainAddress: return "a well-formed address of another chain (its version byte belongs elsewhere)"
        case .badAssetType: return "not a valid CAIP-19 asset type"
        case .badTxId: return "not a well-formed transaction id for the chain family"
        case .unknownNetwork: return "the network alias or CAIP-2 id is not configured"
        case .unknownToken: return "the token alias, symbol or CAIP-19 asset is not configured"
        case .accountNetworkMismatch: return "a CAIP-10 account names a different chain than the request's network"
        case .assetNotConfigured: return "the token is not mapped on that network"
        case .depositDisabled: return "the operator does not accept deposits of this asset on this network"
        case .payoutDisabled: return "the operator does not pay out this asset on this network"
        case .unsupportedChainFamily: return "no chain family handles this CAIP-2 namespace"
        case .amountNotNumeric: return "an amount is not a base-unit decimal integer"
        case .amountNegative: return "an amount is negative"
        case .amountFractional: return "an amount has a fractional part"
        case .amountOverflow: return "an amount exceeds 2^256-1"
        case .amountNotExact: return "an amount cannot be represented exactly (JSON real, or lossy decimals conversion)"
        case .badSignature: return "a signature is malformed or does not verify"
        case .badKey: return "the operator key is missing, malformed, readable by others or not the paying address's"
        case .badRawTx: return "a raw transaction is malformed or not canonically encoded"
        case .expired: return "the payout authorisation has expired (or expires too soon to complete)"
        case .tokenMismatch: return "source and destination name different tokens"
        case .belowMinimum: return "the quantity is below the operator's minimum payout"
        case .feeExceedsMax: return "the payout fee is more than the max_fee the user signed"
        case .insufficientBalance: return "the available balance does not cover quantity plus fee; retry after a deposit"
        case .nonceConflict: return "another payout owns this transaction nonce; re-verify to sign with a fresh one"
        case .coinConflict: return "another payout holds a coin this transaction spends; re-verify to sign with other coins"
        case .insufficientCoins: return "the operator's free coins on this UTXO chain do not cover the payout and its network fee"
        case .networkFeeTooHigh: return "the network fee the chain's policy asks is above the operator's max_network_fee"
        case .unknownRequest: return "no payout with this request id is recorded"
        case .invalidTransition: return "the payout is not in a state that allows this step (e.g. confirming a failed payout)"
        case .gasCapExceeded: return "the destination transaction would need more gas or a higher fee than the configured caps"
        case .operatorUnderfunded: return "the operator's paying account lacks the coins or tokens for this payout; the operator must fund it"
        case .txNotFound: return "the chain does not know the transaction (yet); retry later"
        case .txFailed: return "the transaction was mined but failed (receipt status 0)"
        case .noPaymentToReceiver: return "the transaction pays nothing of this asset to the operator's receiver"
        case .senderMismatch: return "the transaction was not sent by the claimed account"
        case .reorganised: return "the transaction's block is no longer on the canonical chain; retry later"
        case .rpcUnavailable: return "the chain's RPC endpoint failed after all retries; retry later"
        case .rpcError: return "the chain's RPC endpoint answered with an error"
        case .rpcUnauthorized: return "the chain's RPC endpoint refused tok's credentials (rpc_user, rpc_password)"
        case .chainMismatch: return "the RPC endpoint serves a different chain than configured"
        case .badRawBlock: return "the node served a block that does not parse, exceeds tok's limits, or whose merkle root does not match"
        case .attestationMissing: return "a verified record carries no attestation"
        case .attestationInvalid: return "the attestation does not match the record (edited or forged)"
        case .notVerified: return "tok-apply was given a record that tok-verify has not verified"
        case .balanceOverflow: return "crediting would push a balance beyond 2^256-1"
        case .conflictingRecord: return "the request id is already used by a different request"
        case .notNextBlock: return "the block does not extend the chain the ledger holds (or is not its tip); rerun tok-follow"
        case .accountInShortfall: return "a reorganisation took a credited deposit of this account off the chain; payouts wait until it is resolved"
        case .databaseError: return "the database failed; nothing was changed; retry later"
        case .internalError: return "a bug in tok; please report it"
        }
    }
}

/// A failure about one record: a stable code plus a message for people.
public struct TokError: Error, Equatable, Sendable, CustomStringConvertible {
    public let code: ErrorCode
    public let message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var retryable: Bool { code.retryable }
    public var description: String { "\(code.rawValue): \(message)" }
}

/// sysexits(3) codes, so shell scripts and cron can tell failures apart.
public enum SysExit: Int32, Sendable {
    case ok = 0
    case usage = 64          // EX_USAGE: bad command line
    case dataError = 65      // EX_DATAERR: with --strict, some records were rejected
    case noInput = 66        // EX_NOINPUT: an input file could not be opened
    case unavailable = 69    // EX_UNAVAILABLE: a node is unreachable (tok-follow), or records were refused for the operator's setup (ErrorCode.operatorFault)
    case software = 70       // EX_SOFTWARE: internal error
    case cantCreate = 73     // EX_CANTCREAT: the database named cannot be tok's ledger (another application's, not a database, another or newer tok schema)
    case ioError = 74        // EX_IOERR: reading stdin or writing stdout failed
    case tempFailure = 75    // EX_TEMPFAIL: lock busy or database unavailable; try again
    case protocolError = 76  // EX_PROTOCOL: the node's chain forked deeper than max_reorg_depth: an operator must look
    case noPermission = 77   // EX_NOPERM: the database cannot be written (a read-only file, a server refusing writes)
    case config = 78         // EX_CONFIG: the configuration is wrong
}
