/// What an output script says, read from its bytes. Never from Core's `asm` text: its
/// spelling changes between releases, and a follower that parsed it crashed on a bare OP_RETURN.

/// The content of an output script as null data (an OP_RETURN output).
public enum UTXONullData: Equatable, Sendable {
    /// The script does not start with OP_RETURN.
    case notNullData
    /// OP_RETURN followed only by complete pushes: the pushed bytes concatenated (none for a
    /// bare OP_RETURN), and the whole script's length (83 at most for 80 bytes of data that
    /// relay policy allows; longer scripts exist in blocks all the same).
    case data([UInt8], scriptByteCount: Int)
    /// OP_RETURN followed by something other than complete pushes: another opcode, or a push
    /// that runs past the end of the script.
    case notPushOnly(scriptByteCount: Int)
}

public enum UTXOScript {
    /// The Base58Check address a P2PKH or P2SH script pays on `chain`; nil for any other
    /// script (OP_RETURN, pay-to-pubkey, bare multisig, SegWit programs, non-standard).
    public static func address(of script: [UInt8], chain: UTXOChainParameters) -> String? {
        UTXOAddress.fromScript(script, chain: chain)?.encode(chain: chain)
    }

    public static func nullData(of script: [UInt8]) -> UTXONullData {
        guard script.first == Opcode.return else { return .notNullData }
        guard let data = Script.pushedBytes(script.dropFirst()) else {
            return .notPushOnly(scriptByteCount: script.count)
        }
        return .data(data, scriptByteCount: script.count)
    }
}

extension UTXOOutput {
    /// `UTXOScript.address(of:chain:)` of this output's script.
    public func address(chain: UTXOChainParameters) -> String? { UTXOScript.address(of: scriptPubKey, chain: chain) }

    /// `UTXOScript.nullData(of:)` of this output's script.
    public var nullDataContent: UTXONullData { UTXOScript.nullData(of: scriptPubKey) }
}
