import Logging

/// Follows a Bitcoin-family chain through `UTXOBlockSource` (raw blocks, the
/// RPCs every Dogecoin Core 1.14 release has) and reads from each block:
///   - payments to the receiver: outputs paying its exact script, their sum,
///     and the sender proven by the outputs every input spends (previous
///     outputs fetched; a coinbase or mixed inputs prove nobody);
///   - spends of the operator's coins: inputs spending an output it knows pays
///     the receiver (the ledger's pool, and outputs seen paid in earlier blocks);
///   - tokenisation anchors: transactions (never coinbases: a regtest coinbase
///     carries an OP_RETURN commitment of its own) with an envelope output,
///     their actor (the address input 0 spends) and all their outputs.
public final class UTXOBlockFollower: BlockFollower, @unchecked Sendable {
    private let source: UTXOBlockSource
    private let network: NetworkConfig
    private let receiverScript: [UInt8]
    /// CAIP-19 of the chain's native coin, the asset every payment here is in.
    private let nativeAsset: String
    /// Outpoints ("txid:vout") known to pay the receiver. Touched only by the
    /// follower's one sequential loop; the mutex keeps that honest.
    private var known: Set<String> = []
    /// The first 8 bytes (internal order) of the txid of every outpoint ever in `known`: most inputs
    /// spend none of them, and are passed over without building their outpoint's text.
    private var knownTxidPrefixes: Set<UInt64> = []
    /// Set when a watched outpoint's txid could not be read: then every input is looked up by its text.
    private var knownTxidPrefixesIncomplete = false
    private let knownLock = PosixMutex()

    public init(network: NetworkConfig, logger: Logger) throws(TokError) {
        self.network = network
        source = try UTXOBlockSource(network: network, logger: logger)
        receiverScript = try UTXOAddress.parse(network.receiver, chain: source.chain).scriptPubKey
        nativeAsset = "\(network.chainText)/slip44:\(source.chain.slip44)"
    }

    public func checkChain() async throws(TokError) { try await source.checkChain() }
    public func tipHeight() async throws(TokError) -> Int64 { try await source.tipHeight() }

    public func blockHashes(heights: [Int64]) async throws(TokError) -> [String?] {
        try await source.blockHashes(heights: heights)
    }

    public func watchCoins(_ outpoints: [String]) {
        knownLock.withLock {
            known.formUnion(outpoints)
            for outpoint in outpoints {
                let parts = outpoint.split(separator: ":", maxSplits: 1)
                if parts.count == 2, let vout = UInt32(parts[1]),
                    let parsed = try? UTXOOutPoint(txid: parts[0], vout: vout)
                {
                    knownTxidPrefixes.insert(UTXOBlockFollower.txidPrefix(parsed.txidInternalBytes))
                } else {
                    knownTxidPrefixesIncomplete = true
                }
            }
        }
    }

    public func blocks(heights: ClosedRange<Int64>) async throws(TokError) -> [FollowedBlock] {
        try await blocks(fetched: fetchBlocks(heights: heights))
    }

    /// The blocks' hashes and raw blocks: nothing here touches the coins the follower watches.
    public func fetchBlocks(heights: ClosedRange<Int64>) async throws(TokError) -> FetchedBlocks {
        let hashes = try await source.blockHashes(heights: Array(heights))
        let present = Array(hashes.prefix { $0 != nil }.compactMap { $0 })
        if present.isEmpty { return FetchedBlocks(heights: heights, payload: [RawBlock]()) }
        // A block gone between the two calls: the chain moved; the caller sees the gap.
        let raws = try await source.blocks(hashes: present).prefix { $0 != nil }.compactMap { $0 }
        return FetchedBlocks(heights: heights, payload: raws)
    }

    public func blocks(fetched: FetchedBlocks) async throws(TokError) -> [FollowedBlock] {
        guard let raws = fetched.payload as? [RawBlock] else { return try await blocks(heights: fetched.heights) }
        if raws.isEmpty { return [] }
        let heights = fetched.heights
        // Only transactions that pay the receiver or anchor a message need their inputs' previous outputs:
        // fetched for the whole batch at once (a request per 50, not one per block; an output of one block
        // spent in a later one of the batch is taken from it).
        let interesting = raws.flatMap { raw in
            raw.transactions.filter { !$0.isCoinbase && (pays($0) || anchorOutput($0) != nil) }
        }
        var spentByTx: [String: [UTXOOutput]] = [:]
        for (parsed, outputs) in zip(interesting, try await source.spentOutputs(of: interesting)) {
            spentByTx[parsed.txid] = outputs
        }
        var blocks: [FollowedBlock] = []
        for (offset, raw) in raws.enumerated() {
            blocks.append(try followed(raw, height: heights.lowerBound + Int64(offset), spentByTx: spentByTx))
        }
        return blocks
    }

    /// One block's events; `spentByTx`: the outputs the inputs of its interesting transactions spend.
    private func followed(
        _ raw: RawBlock, height: Int64, spentByTx: [String: [UTXOOutput]]
    ) throws(TokError) -> FollowedBlock {
        var block = FollowedBlock(
            network: network.chainText, height: height, hash: raw.hash,
            previousHash: raw.previousBlockHash, timeUnixSeconds: Int64(raw.header.time))
        for (position, parsed) in raw.transactions.enumerated() {
            // Spends first: a coin paid earlier in this very block may be spent by a later transaction.
            if !parsed.isCoinbase { block.spends += spends(parsed) }
            if pays(parsed) { block.payments.append(payment(parsed, spent: spentByTx[parsed.txid])) }
            if !parsed.isCoinbase, let output = anchorOutput(parsed) {
                block.anchors.append(
                    anchor(parsed, position: position, output: output, spent: spentByTx[parsed.txid] ?? []))
            }
        }
        for kind in [block.payments.count, block.spends.count, block.anchors.count]
        where kind > FollowedBlock.maxEventsPerKind {
            throw TokError(
                .rpcError,
                "block \(raw.hash) has \(kind) events of one kind, more than a block record carries (\(FollowedBlock.maxEventsPerKind))"
            )
        }
        return block
    }

    private func pays(_ parsed: UTXOParsedTransaction) -> Bool {
        parsed.outputs.contains { $0.scriptPubKey == receiverScript && $0.valueBaseUnits > 0 }
    }

    private func anchorOutput(_ parsed: UTXOParsedTransaction) -> Int? {
        // Every anchor is an OP_RETURN output: most transactions have none, and need no list of their scripts.
        guard parsed.outputs.contains(where: { $0.scriptPubKey.first == TokenProtocol.opReturn }) else { return nil }
        return TokenProtocol.findAnchor(outputScripts: parsed.outputs.map(\.scriptPubKey))?.outputIndex
    }

    private func spends(_ parsed: UTXOParsedTransaction) -> [CoinSpend] {
        knownLock.withLock {
            parsed.inputs.enumerated().compactMap { index, input in
                guard
                    knownTxidPrefixesIncomplete
                        || knownTxidPrefixes.contains(
                            UTXOBlockFollower.txidPrefix(input.previousOutput.txidInternalBytes))
                else { return nil }
                let outpoint = "\(input.previousOutput.txid):\(input.previousOutput.vout)"
                guard known.remove(outpoint) != nil else { return nil }
                return CoinSpend(outpoint: outpoint, tx: parsed.txid, input: index)
            }
        }
    }

    /// The payment to the receiver in `parsed`, and who made it: the one
    /// address every input spends from, or nobody (and why).
    private func payment(_ parsed: UTXOParsedTransaction, spent: [UTXOOutput]?) -> DetectedPayment {
        var coins: [Coin] = []
        var total: UInt64 = 0
        for (index, output) in parsed.outputs.enumerated()
        where output.scriptPubKey == receiverScript && output.valueBaseUnits > 0 {
            coins.append(Coin(tx: parsed.txid, index: UInt32(index), value: output.valueBaseUnits))
            // The parser bounds every value by MAX_MONEY, and so their sum within one transaction.
            total = total &+ output.valueBaseUnits
        }
        knownLock.withLock {
            for coin in coins { known.insert(coin.outpoint) }
            if !coins.isEmpty { knownTxidPrefixes.insert(UTXOBlockFollower.txidPrefix(parsed.txidInternalBytes)) }
        }
        let sender: String?, unproven: String?
        if parsed.isCoinbase {
            (sender, unproven) = (nil, "coinbase")
        } else {
            let addresses = (spent ?? []).map { UTXOScript.address(of: $0.scriptPubKey, chain: source.chain) }
            if addresses.isEmpty || addresses.contains(where: { $0 == nil }) {
                (sender, unproven) = (nil, "non_standard_input")
            } else if Set(addresses.compactMap { $0 }).count > 1 {
                (sender, unproven) = (nil, "mixed_inputs")
            } else {
                (sender, unproven) = (addresses[0], nil)
            }
        }
        return DetectedPayment(
            tx: parsed.txid, asset: nativeAsset, amount: UInt256(total), outputs: coins, sender: sender,
            unproven: unproven)
    }

    private func anchor(_ parsed: UTXOParsedTransaction, position: Int, output: Int, spent: [UTXOOutput]) -> AnchorEvent
    {
        let actor = spent.first.flatMap { UTXOScript.address(of: $0.scriptPubKey, chain: source.chain) }
        return AnchorEvent(
            tx: parsed.txid, position: position, output: output, actor: actor,
            sighashAll: UTXOBlockFollower.signsAll(parsed.inputs.first?.scriptSig ?? []),
            outputs: parsed.outputs.prefix(AnchorEvent.maxOutputs).map {
                AnchorEvent.Output(script: $0.scriptPubKey, value: $0.valueBaseUnits)
            })
    }

    private static func txidPrefix(_ txidInternalBytes: [UInt8]) -> UInt64 {
        txidInternalBytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    }

    /// Whether a P2PKH (or P2SH multisig) scriptSig's first signature is
    /// SIGHASH_ALL: its last byte, after the DER signature. Anything that is not
    /// a push of a plausible signature first is read as not signing all.
    static func signsAll(_ scriptSig: [UInt8]) -> Bool {
        var index = 0
        // P2SH multisig starts with OP_0 (an empty push) before the signatures.
        if scriptSig.first == 0x00 { index = 1 }
        guard index < scriptSig.count else { return false }
        let opcode = scriptSig[index]
        var length = 0
        switch opcode {
        case 0x01...0x4b:
            length = Int(opcode)
            index += 1
        case 0x4c:
            guard index + 1 < scriptSig.count else { return false }
            length = Int(scriptSig[index + 1])
            index += 2
        default:
            return false
        }
        guard (9...73).contains(length), index + length <= scriptSig.count, scriptSig[index] == 0x30 else {
            return false
        }
        return scriptSig[index + length - 1] == 0x01
    }
}

extension UTXOFamily: BlockFollowing {
    public func blockFollower(for network: NetworkConfig, logger: Logger) throws(TokError) -> BlockFollower {
        try UTXOBlockFollower(network: network, logger: logger)
    }
}
