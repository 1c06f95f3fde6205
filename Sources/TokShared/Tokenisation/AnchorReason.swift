/// Why a tagged OP_RETURN (one that starts with the FE 00 01 FE envelope) is refused.
///
/// The raw values are stable: they are recorded in the ledger, printed by tok-apply and listed
/// in man/tok-protocol.7 (a test keeps that table in step). Never rename one, only add. Two
/// implementations that follow the decoding order of man/tok-protocol.7 give the same reason
/// for the same bytes, so runs can be compared line by line.
public enum AnchorReason: String, Sendable, CaseIterable {
    // The output script and the envelope.
    case anchorTooLarge = "anchor_too_large"
    case truncatedPush = "truncated_push"
    case nonMinimalPush = "non_minimal_push"
    case extraScript = "extra_script"
    case truncatedEnvelope = "truncated_envelope"
    case emptyPayload = "empty_payload"

    // The protobuf wire format.
    case truncated = "truncated"
    case varintOverflow = "varint_overflow"
    case nonMinimalVarint = "non_minimal_varint"
    case trailingBytes = "trailing_bytes"
    case unknownField = "unknown_field"
    case wrongWireType = "wrong_wire_type"
    case duplicateField = "duplicate_field"
    case fieldOutOfOrder = "field_out_of_order"
    case defaultValueWritten = "default_value_written"
    case notCanonical = "not_canonical"

    // Field values and the message as a whole.
    case negativeValue = "negative_value"
    case valueOutOfRange = "value_out_of_range"
    case badLength = "bad_length"
    case badHex = "bad_hex"
    case missingField = "missing_field"
    case amountOverflow = "amount_overflow"
    case approvalsExceedManagers = "approvals_exceed_managers"
    case badReference = "bad_reference"

    // The anchoring transaction (checked with its outputs, by the flows).
    case multipleOpReturns = "multiple_op_returns"
    case missingNamedOutput = "missing_named_output"
    case namedOutputNotAddress = "named_output_not_address"
    case duplicateManager = "duplicate_manager"

    /// One line for man/tok-protocol.7.
    public var summary: String {
        switch self {
        case .anchorTooLarge: return "the envelope is longer than 80 bytes"
        case .truncatedPush: return "the output script ends inside the push that carries the envelope"
        case .nonMinimalPush: return "the envelope is pushed with a longer push opcode than its length needs"
        case .extraScript: return "the output script goes on after the push that carries the envelope"
        case .truncatedEnvelope: return "the data holds the tag but not both the action and the version byte"
        case .emptyPayload: return "the envelope has no payload after the action and version bytes"
        case .truncated: return "a varint, a length or a length-delimited value runs past the end of the payload"
        case .varintOverflow: return "a varint is longer than 10 bytes or its value exceeds 2^64-1"
        case .nonMinimalVarint:
            return "a varint is longer than its value needs (ends in a 0x00 byte after a continuation)"
        case .trailingBytes: return "bytes follow the field with the highest number the message defines"
        case .unknownField: return "a field number the message does not define (field 0 included)"
        case .wrongWireType: return "a known field carried with another wire type than its type's"
        case .duplicateField: return "a field appears twice"
        case .fieldOutOfOrder: return "a field follows one with a higher number"
        case .defaultValueWritten:
            return "a field is written with its default value (0, false or empty), which proto3 omits"
        case .notCanonical: return "the payload does not re-encode to the same bytes"
        case .negativeValue: return "a varint has bit 63 set: a negative number in its signed reading"
        case .valueOutOfRange: return "a value is above the bound of its field"
        case .badLength: return "a bytes or string field is not of the length its field requires"
        case .badHex: return "a hash written as text is not lowercase hexadecimal"
        case .missingField: return "a required field is absent"
        case .amountOverflow: return "quantity times unit price exceeds 10^18 koinu"
        case .approvalsExceedManagers: return "a mint asks for more approvals than it names managers"
        case .badReference: return "a payment or approval does not name exactly one invoice or one match"
        case .multipleOpReturns: return "the transaction has another OP_RETURN output besides the envelope"
        case .missingNamedOutput: return "the transaction has fewer outputs after the envelope than the message names"
        case .namedOutputNotAddress: return "an output the message names is not a P2PKH or P2SH script"
        case .duplicateManager: return "a mint names the same manager address twice"
        }
    }
}

/// A refusal: the stable reason plus a sentence for the operator (where, which field).
public struct AnchorRejection: Error, Hashable, Sendable, CustomStringConvertible {
    public let reason: AnchorReason
    public let detail: String

    public init(_ reason: AnchorReason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { "\(reason.rawValue): \(detail)" }
}
