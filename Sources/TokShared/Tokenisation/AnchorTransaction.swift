/// Finding the envelope in a transaction's output scripts, and the parties a message names by
/// the outputs that follow it. Pure functions over script bytes, so the flows can run them on
/// whatever the follower read from the chain.

/// The tagged OP_RETURN of a transaction and what it says.
public struct TransactionAnchor: Hashable, Sendable {
    public let outputIndex: Int
    public let outcome: AnchorOutcome
}

extension TokenProtocol {
    /// Reads one output script. Tagged means: OP_RETURN, then a push opcode whose data (as much
    /// of it as the script holds) begins with the tag. Everything else is `.notAnchor`; a tagged
    /// script that breaks a rule is `.invalid`, checked in this order: more than 80 data bytes,
    /// the script ends inside the push, a longer push opcode than needed, bytes after the push.
    public static func decode(outputScript script: [UInt8]) -> AnchorOutcome {
        guard script.count >= 2, script[0] == opReturn, let push = readPush(script) else { return .notAnchor }
        let available = script[push.dataStart..<min(script.count, push.dataStart + push.length)]
        guard available.count >= tag.count, available.prefix(tag.count).elementsEqual(tag) else { return .notAnchor }
        if push.length > maxDataBytes {
            return .invalid(
                AnchorRejection(.anchorTooLarge, "the push declares \(push.length) data bytes, at most \(maxDataBytes)")
            )
        }
        if push.dataStart + push.length > script.count {
            return .invalid(
                AnchorRejection(
                    .truncatedPush, "the push declares \(push.length) bytes, the script holds \(available.count)"))
        }
        let minimalHeader = push.length <= 75 ? 1 : 2
        if push.dataStart - 1 != minimalHeader {
            return .invalid(
                AnchorRejection(.nonMinimalPush, "\(push.length) bytes pushed with opcode 0x\(Hex.encode([script[1]]))")
            )
        }
        if push.dataStart + push.length < script.count {
            return .invalid(
                AnchorRejection(
                    .extraScript, "\(script.count - push.dataStart - push.length) script byte(s) after the envelope"))
        }
        return decode(data: available)
    }

    /// The first push after OP_RETURN: where its data starts and how long it says it is. nil
    /// when the opcode is not a data push or the push header itself is cut off.
    private static func readPush(_ script: [UInt8]) -> (dataStart: Int, length: Int)? {
        let opcode = script[1]
        func littleEndian(_ count: Int) -> Int? {
            guard script.count >= 2 + count else { return nil }
            return (0..<count).reduce(0) { $0 | Int(script[2 + $1]) << (8 * $1) }
        }
        switch opcode {
        case 0x01...0x4B: return (2, Int(opcode))
        case opPushData1: return littleEndian(1).map { (3, $0) }
        case opPushData2: return littleEndian(2).map { (4, $0) }
        case opPushData4: return littleEndian(4).map { (6, $0) }
        default: return nil
        }
    }

    /// The transaction's anchor, or nil when no output is tagged. Dogecoin relays one OP_RETURN
    /// per transaction; a tagged one beside any other OP_RETURN output is `multiple_op_returns`.
    public static func findAnchor(outputScripts: [[UInt8]]) -> TransactionAnchor? {
        var anchor: TransactionAnchor?
        var opReturnCount = 0
        for (index, script) in outputScripts.enumerated() {
            if script.first == opReturn { opReturnCount += 1 }
            if anchor == nil {
                let outcome = decode(outputScript: script)
                if outcome != .notAnchor { anchor = TransactionAnchor(outputIndex: index, outcome: outcome) }
            }
        }
        guard let found = anchor else { return nil }
        if opReturnCount > 1 {
            return TransactionAnchor(
                outputIndex: found.outputIndex,
                outcome: .invalid(
                    AnchorRejection(
                        .multipleOpReturns, "\(opReturnCount) OP_RETURN outputs; the envelope must be the only one")))
        }
        return found
    }

    /// The addresses of the outputs right after the anchor, one per role, in order. Each must be
    /// an exact P2PKH or P2SH script, and managers must be distinct.
    public static func namedParties(
        of message: TokenMessage, outputScripts: [[UInt8]], anchorOutputIndex: Int, chain: UTXOChainParameters
    ) throws(AnchorRejection) -> [(role: NamedOutputRole, address: UTXOAddress)] {
        let roles = message.namedOutputRoles
        var parties: [(role: NamedOutputRole, address: UTXOAddress)] = []
        for (offset, role) in roles.enumerated() {
            let index = anchorOutputIndex + 1 + offset
            guard index >= 1, index < outputScripts.count else {
                throw AnchorRejection(
                    .missingNamedOutput,
                    "the message names \(roles.count) output(s) after output \(anchorOutputIndex); output \(index) does not exist"
                )
            }
            guard let address = UTXOAddress.fromScript(outputScripts[index], chain: chain) else {
                throw AnchorRejection(.namedOutputNotAddress, "output \(index) (\(role)) is not a P2PKH or P2SH script")
            }
            parties.append((role, address))
        }
        let managers = parties.filter { if case .manager = $0.role { return true } else { return false } }.map(
            \.address)
        if Set(managers).count != managers.count {
            throw AnchorRejection(.duplicateManager, "the mint names a manager address twice")
        }
        return parties
    }
}
