import XCTest
@testable import TokShared

/// Raw blocks as `getblock <hash> false` serialises them: a block mined by the real dogecoind
/// on regtest (AuxPoW included), and hand-built ones (AuxPoW with branches, SegWit, the
/// refusals), built here by serialising field by field rather than with the parser's code.
final class RawBlockTests: XCTestCase {
    private func unhex(_ text: String) -> [UInt8] { Hex.decode(text)! }

    /// Block 26 of a dogecoind -regtest chain (Dogecoin Core 1.14.99), mined with
    /// `generatetoaddress 1 ADDR 100000 1`: an AuxPoW block. Fields from `getblock HASH true`.
    private let dogecoinAuxPowBlockHex =
        "04016200872a8c9234c79d0e9ba2147a70ee57325975c31cecb12b2e2e19e51e24b775f9a8875b6148c8f57fcd4825f14d781c02ee3fa68f8087cad0e3ca93f3a781d66dbf4a0f6bffff7f200000000001000000010000000000000000000000000000000000000000000000000000000000000000ffffffff292895d32157dc557b006db56b97c4181229f85d110e8e8cc038b443498e6cff5e9f0100000000000000ffffffff00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000100000000000000000000000000000000000000000000000000000000000000000000009db6070aff77a186bfe248e2bfc6474ecb38ca3abec9f90a100d4a1b57f0844c0000000000000000020000000101000000010000000000000000000000000000000000000000000000000000000000000000ffffffff04011a0101ffffffff0200203d88792d00001976a914a2d9fc2a1d6db032a582b3fd28c82004a02e4ae888ac0000000000000000266a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf900000000"

    func testParsesARealDogecoinRegtestAuxPowBlock() throws {
        let block = try RawBlock(hex: dogecoinAuxPowBlockHex, chain: UTXOChains.dogecoinRegtest)
        XCTAssertEqual(block.hash, "95d32157dc557b006db56b97c4181229f85d110e8e8cc038b443498e6cff5e9f")
        XCTAssertEqual(block.previousBlockHash, "f975b7241ee5192e2e2bb1ec1cc375593257ee707a14a29b0e9dc734928c2a87")
        XCTAssertEqual(block.header.merkleRoot, "6dd681a7f393cae3d0ca87808fa63fee021c784df12548cd7ff5c848615b87a8")
        XCTAssertEqual(block.header.version, 6_422_788)
        XCTAssertEqual(block.header.auxPowChainId, 0x62)
        XCTAssertTrue(block.header.hasAuxPowFlag)
        XCTAssertEqual(block.header.time, 1_796_164_287)
        XCTAssertEqual(block.header.bits, 0x207f_ffff)
        XCTAssertEqual(block.header.nonce, 0)
        XCTAssertEqual(block.byteCount, dogecoinAuxPowBlockHex.utf8.count / 2)

        let auxPow = try XCTUnwrap(block.auxPow)
        XCTAssertEqual(auxPow.coinbase.txid, "4c84f0571b4a0d100af9c9be3aca38cb4e47c6bfe248e2bf86a177ff0a07b69d")
        XCTAssertTrue(auxPow.coinbase.isCoinbase)
        XCTAssertEqual(auxPow.coinbase.outputs, [], "regtest's AuxPoW coinbase has no outputs")
        XCTAssertEqual(auxPow.coinbaseMerkleBranch, [])
        XCTAssertEqual(auxPow.chainMerkleBranch, [])
        XCTAssertEqual(auxPow.coinbaseIndex, 0)
        XCTAssertEqual(auxPow.chainIndex, 0)
        XCTAssertEqual(auxPow.parentHeader.merkleRootInternalBytes, auxPow.coinbase.txidInternalBytes)
        XCTAssertEqual(auxPow.parentHeader.nonce, 2)

        XCTAssertEqual(
            block.transactions.map(\.txid), ["6dd681a7f393cae3d0ca87808fa63fee021c784df12548cd7ff5c848615b87a8"])
        let coinbase = block.transactions[0]
        XCTAssertTrue(coinbase.isCoinbase)
        XCTAssertFalse(coinbase.hasWitness)
        XCTAssertEqual(coinbase.outputs.map(\.valueBaseUnits), [50_000_000_000_000, 0])
        XCTAssertEqual(
            coinbase.outputs[0].address(chain: UTXOChains.dogecoinRegtest), "mvN2tzfmHLrX52qLfT2LvEbJsRQQsn9KhL")
        // The SegWit-style commitment every regtest coinbase carries: 36 bytes of OP_RETURN data.
        guard case .data(let commitment, let scriptBytes) = coinbase.outputs[1].nullDataContent else {
            return XCTFail("the commitment is null data: \(coinbase.outputs[1].nullDataContent)")
        }
        XCTAssertEqual(Array(commitment.prefix(4)), [0xaa, 0x21, 0xa9, 0xed])
        XCTAssertEqual(commitment.count, 36)
        XCTAssertEqual(scriptBytes, 38)
    }

    /// Bit 8 of the version is a BIP 9 signal on chains that do not merge-mine: no AuxPoW is read there.
    func testTheAuxPowFlagCountsOnlyOnMergeMinedChains() throws {
        let coinbase = BlockBuilder.coinbase(
            height: 7, outputs: [UTXOOutput(valueBaseUnits: 5, scriptPubKey: [Opcode.return])])
        let bytes = BlockBuilder.block(version: 0x2000_0100, transactions: [coinbase.serialized()])
        let block = try RawBlock(parsing: bytes, chain: UTXOChains.litecoinRegtest)
        XCTAssertNil(block.auxPow)
        XCTAssertTrue(block.header.hasAuxPowFlag)
        XCTAssertThrowsError(
            try RawBlock(parsing: bytes, chain: UTXOChains.dogecoinMainnet), "read as an AuxPoW it does not parse"
        ) {
            XCTAssertEqual(($0 as? TokError)?.code, .badRawBlock)
        }
    }

    // MARK: Hand-built blocks

    func testHandBuiltAuxPowBlockWithBranchesAndPayments() throws {
        let chain = UTXOChains.dogecoinMainnet
        let receiver = try UTXOAddress.parse("DRwVeQZVyQz9DtLxNiDGJKSYMqpfAgx1hZ", chain: chain)
        let coinbase = BlockBuilder.coinbase(
            height: 5_200_001, outputs: [UTXOOutput(valueBaseUnits: 1_000_000_000_000, address: receiver)])
        let spend = BlockBuilder.spend(
            [(BlockBuilder.filled(0x11), 3)],
            outputs: [
                UTXOOutput(valueBaseUnits: 12_345_678_912_345_678, address: receiver),
                try UTXOOutput.nullData([0xfe, 0x00, 0x01, 0xfe] + [UInt8](repeating: 0x42, count: 76)),
            ])
        let parentCoinbase = BlockBuilder.coinbase(
            height: 2_700_001, outputs: [UTXOOutput(valueBaseUnits: 625_000_000, address: receiver)])
        let coinbaseBranch = [BlockBuilder.filled(0x21), BlockBuilder.filled(0x22)]
        let chainBranch = [BlockBuilder.filled(0x31)]
        let parentHeader = BlockBuilder.header(
            version: 0x2000_0000, previous: BlockBuilder.filled(0x41),
            merkleRoot: BlockBuilder.filled(0x42), time: 1_717_243_198, bits: 0x1924_a5c1, nonce: 77)
        let auxPow = BlockBuilder.auxPow(
            coinbase: parentCoinbase.serialized(), parentHash: BlockBuilder.filled(0x51),
            coinbaseBranch: coinbaseBranch, coinbaseIndex: 0, chainBranch: chainBranch, chainIndex: 1,
            parentHeader: parentHeader)
        let bytes = BlockBuilder.block(
            version: 0x0062_0104, previous: BlockBuilder.filled(0x61), time: 1_717_243_200,
            auxPow: auxPow, transactions: [coinbase.serialized(), spend.serialized()])
        let block = try RawBlock(parsing: bytes, chain: chain)

        XCTAssertEqual(block.hash, Hex.encode(Hashing.sha256d(Array(bytes[0..<80])).reversed()))
        XCTAssertEqual(block.header.previousBlockHashInternalBytes, BlockBuilder.filled(0x61))
        XCTAssertEqual(block.header.time, 1_717_243_200)
        let parsedAuxPow = try XCTUnwrap(block.auxPow)
        XCTAssertEqual(parsedAuxPow.coinbase.transaction, parentCoinbase)
        XCTAssertEqual(parsedAuxPow.parentBlockHashInternalBytes, BlockBuilder.filled(0x51))
        XCTAssertEqual(parsedAuxPow.coinbaseMerkleBranch, coinbaseBranch)
        XCTAssertEqual(parsedAuxPow.chainMerkleBranch, chainBranch)
        XCTAssertEqual(parsedAuxPow.chainIndex, 1)
        XCTAssertEqual(parsedAuxPow.parentHeader.hashInternalBytes, Hashing.sha256d(parentHeader))
        XCTAssertEqual(parsedAuxPow.parentHeader.nonce, 77)

        XCTAssertEqual(block.transactions.map(\.txid), [coinbase.txid, spend.txid])
        XCTAssertEqual(block.transactions[1].transaction, spend)
        XCTAssertEqual(
            block.transactions[1].outputs[0].valueBaseUnits, 12_345_678_912_345_678, "koinu beyond 2^53, exact")
        XCTAssertEqual(block.transactions[1].outputs[0].address(chain: chain), "DRwVeQZVyQz9DtLxNiDGJKSYMqpfAgx1hZ")
        XCTAssertEqual(
            block.transactions[1].outputs[1].nullDataContent,
            .data([0xfe, 0x00, 0x01, 0xfe] + [UInt8](repeating: 0x42, count: 76), scriptByteCount: 83))
        XCTAssertFalse(block.transactions[1].isCoinbase)
    }

    /// Litecoin-style SegWit: the coinbase's witness reserved value and a spend with a
    /// two-item witness. The txid hashes the legacy form, the witness hash every byte.
    func testSegWitTransactionsInABlock() throws {
        let coinbase = BlockBuilder.coinbase(
            height: 432,
            outputs: [
                UTXOOutput(
                    valueBaseUnits: 2_500_000_000, scriptPubKey: [0x00, 0x14] + BlockBuilder.filled(0x71, count: 20)),
                UTXOOutput(
                    valueBaseUnits: 0, scriptPubKey: [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed] + BlockBuilder.filled(0x72)),
            ])
        let spend = BlockBuilder.spend(
            [(BlockBuilder.filled(0x81), 0), (BlockBuilder.filled(0x82), 1)],
            outputs: [
                UTXOOutput(
                    valueBaseUnits: 99_990_000,
                    scriptPubKey: UTXOAddress(kind: .p2sh, hash160: BlockBuilder.filled(0x91, count: 20)).scriptPubKey)
            ])
        let spendWitnesses: [[[UInt8]]] = [
            [BlockBuilder.filled(0x30, count: 71), BlockBuilder.filled(0x02, count: 33)], [[0x01]],
        ]
        let coinbaseBytes = BlockBuilder.segWit(coinbase, witnesses: [[[UInt8](repeating: 0, count: 32)]])
        let spendBytes = BlockBuilder.segWit(spend, witnesses: spendWitnesses)
        let bytes = BlockBuilder.block(
            version: 0x2000_0000, transactions: [coinbaseBytes, spendBytes],
            txids: [
                Hashing.sha256d(coinbase.serialized()), Hashing.sha256d(spend.serialized()),
            ])
        let block = try RawBlock(parsing: bytes, chain: UTXOChains.litecoinRegtest)
        XCTAssertEqual(block.transactions.map(\.txid), [coinbase.txid, spend.txid])
        XCTAssertEqual(block.transactions[1].witnesses, spendWitnesses)
        XCTAssertEqual(block.transactions[1].witnessHashInternalBytes, Hashing.sha256d(spendBytes))
        XCTAssertNotEqual(block.transactions[1].witnessHash, block.transactions[1].txid)
        XCTAssertEqual(block.transactions[1].byteCount, spendBytes.count)
        XCTAssertEqual(block.transactions[1].transaction, spend)
        XCTAssertTrue(block.transactions[0].isCoinbase && block.transactions[0].hasWitness)
        XCTAssertNil(
            block.transactions[0].outputs[0].address(chain: UTXOChains.litecoinRegtest),
            "a SegWit program has no legacy address")

        // The same transactions on their own: SegWit is read by the node-facing parser only.
        XCTAssertEqual(try UTXOParsedTransaction(parsing: spendBytes).txid, spend.txid)
        XCTAssertEqual(try UTXOParsedTransaction(hex: Hex.encode(spend.serialized())).witnesses, [])
        XCTAssertThrowsError(try UTXOTransaction(parsing: spendBytes)) {
            XCTAssertEqual(($0 as? TokError)?.code, .badRawTx)
        }
    }

    func testRefusesBlocksThatAreNotWellFormed() throws {
        let chain = UTXOChains.dogecoinRegtest
        let coinbase = BlockBuilder.coinbase(
            height: 3, outputs: [UTXOOutput(valueBaseUnits: 1, scriptPubKey: [Opcode.return])])
        let other = BlockBuilder.coinbase(
            height: 4, outputs: [UTXOOutput(valueBaseUnits: 2, scriptPubKey: [Opcode.return])])
        let spend = BlockBuilder.spend(
            [(BlockBuilder.filled(0x11), 0)], outputs: [UTXOOutput(valueBaseUnits: 3, scriptPubKey: [0x51])])
        let spend2 = BlockBuilder.spend(
            [(BlockBuilder.filled(0x12), 0)], outputs: [UTXOOutput(valueBaseUnits: 4, scriptPubKey: [0x51])])
        let good = BlockBuilder.block(transactions: [coinbase.serialized(), spend.serialized()])
        XCTAssertNoThrow(try RawBlock(parsing: good, chain: chain))

        func assertRefused(_ bytes: [UInt8], _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try RawBlock(parsing: bytes, chain: chain), line: line) { error in
                XCTAssertEqual((error as? TokError)?.code, .badRawBlock, line: line)
                let message = (error as? TokError)?.message ?? ""
                XCTAssertTrue(message.contains(fragment), "\(message) lacks \(fragment)", line: line)
            }
        }
        var wrongRoot = good
        wrongRoot[40] ^= 1
        assertRefused(wrongRoot, "merkle root")
        assertRefused(good + [0], "1 bytes after its last transaction")
        assertRefused(Array(good.dropLast()), "ends early")
        assertRefused(Array(good.prefix(79)), "raw block ends early")
        assertRefused(BlockBuilder.block(transactions: []), "no transactions")
        assertRefused(
            BlockBuilder.block(transactions: [spend.serialized(), coinbase.serialized()]), "first transaction")
        assertRefused(
            BlockBuilder.block(transactions: [coinbase.serialized(), other.serialized()]), "transaction 1 of block")
        // CVE-2012-2459: [cb, a, b, b] has the root of [cb, a, b].
        let three = [coinbase.serialized(), spend.serialized(), spend2.serialized()]
        let threeBlock = BlockBuilder.block(transactions: three)
        XCTAssertNoThrow(try RawBlock(parsing: threeBlock, chain: chain))
        let doubled = BlockBuilder.block(
            merkleRoot: Array(threeBlock[36..<68]), transactions: three + [spend2.serialized()])
        assertRefused(doubled, "twice")
        // Limits, checked before anything is allocated.
        assertRefused([UInt8](repeating: 0, count: RawBlock.maxSerializedBytes + 1), "at most 4000000")
        assertRefused(Array(good.prefix(80)) + [0xfe, 0xff, 0xff, 0xff, 0x00], "transaction count 16777215 exceeds")
        var hugeScript = Array(good.prefix(80)) + [0x01] + Array(coinbase.serialized().prefix(41))
        hugeScript += [0xfe, 0x41, 0x42, 0x0f, 0x00]
        assertRefused(hugeScript, "scriptSig length 1000001 exceeds")
        XCTAssertThrowsError(
            try RawBlock(hex: String(repeating: "0", count: 2 * RawBlock.maxSerializedBytes + 2), chain: chain))
        XCTAssertThrowsError(try RawBlock(hex: "0g", chain: chain)) {
            XCTAssertEqual(($0 as? TokError)?.code, .badRawBlock)
        }
        XCTAssertThrowsError(try UTXOBlockHeader(parsing: Array(good.prefix(79)))) {
            XCTAssertEqual(($0 as? TokError)?.code, .badRawBlock)
        }
        // Litecoin's MWEB flag and unknown flags are named, not misread.
        let mweb = Array(spend.serialized().prefix(4)) + [0x00, 0x08] + Array(spend.serialized().dropFirst(4))
        assertRefused(
            BlockBuilder.block(
                transactions: [coinbase.serialized(), mweb],
                txids: [Hashing.sha256d(coinbase.serialized()), BlockBuilder.filled(1)]), "MWEB")
    }

    /// Truncated, oversized and garbage bytes always give an outcome: a block or .badRawBlock.
    func testNoBytesCrashTheParser() throws {
        var random = SplitMix64(state: 0x7061_7273_6520_6d65)
        let chains = [UTXOChains.dogecoinRegtest, UTXOChains.litecoinRegtest]
        let seeds = [unhex(dogecoinAuxPowBlockHex), try handBuiltSegWitBlock()]
        func judge(_ bytes: [UInt8]) {
            for chain in chains {
                do {
                    _ = try RawBlock(parsing: bytes, chain: chain)
                } catch {
                    XCTAssertEqual(error.code, .badRawBlock, error.message)
                }
            }
        }
        for seed in seeds {
            for length in 0...seed.count { judge(Array(seed.prefix(length))) }
        }
        for _ in 0..<3_000 {
            var bytes = seeds[Int(random.next() % UInt64(seeds.count))]
            for _ in 0..<(1 + random.next() % 6) {
                let index = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 4 {
                case 0: bytes[index] = UInt8(truncatingIfNeeded: random.next())
                case 1:
                    bytes.insert(
                        contentsOf: [0xfd, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff].prefix(Int(random.next() % 9)),
                        at: index)
                case 2: bytes.removeSubrange(index..<min(bytes.count, index + Int(random.next() % 40)))
                default: bytes[index] = [0x00, 0x01, 0xfd, 0xfe, 0xff][Int(random.next() % 5)]
                }
                if bytes.isEmpty { bytes = [0] }
            }
            judge(bytes)
        }
        for _ in 0..<500 {
            judge((0..<Int(random.next() % 400)).map { _ in UInt8(truncatingIfNeeded: random.next()) })
        }
    }

    private func handBuiltSegWitBlock() throws -> [UInt8] {
        let coinbase = BlockBuilder.coinbase(
            height: 9, outputs: [UTXOOutput(valueBaseUnits: 7, scriptPubKey: [Opcode.return, 0x01, 0x07])])
        let spend = BlockBuilder.spend(
            [(BlockBuilder.filled(0x13), 2)], outputs: [UTXOOutput(valueBaseUnits: 8, scriptPubKey: [0x51])])
        let bytes = BlockBuilder.block(
            version: 0x2000_0000,
            transactions: [
                BlockBuilder.segWit(coinbase, witnesses: [[[UInt8](repeating: 0, count: 32)]]),
                BlockBuilder.segWit(spend, witnesses: [[[0x01, 0x02], []]]),
            ], txids: [Hashing.sha256d(coinbase.serialized()), Hashing.sha256d(spend.serialized())])
        XCTAssertNoThrow(try RawBlock(parsing: bytes, chain: UTXOChains.litecoinRegtest))
        return bytes
    }

    func testMerkleRoot() {
        let a = BlockBuilder.filled(0xa1), b = BlockBuilder.filled(0xb2), c = BlockBuilder.filled(0xc3)
        XCTAssertEqual(RawBlock.merkleRoot(of: [a]).root, a, "one transaction: its txid")
        XCTAssertEqual(
            RawBlock.merkleRoot(of: [a, b, c]).root, Hashing.sha256d(Hashing.sha256d(a + b) + Hashing.sha256d(c + c)))
        XCTAssertFalse(RawBlock.merkleRoot(of: [a, b, c]).mutated)
        XCTAssertTrue(RawBlock.merkleRoot(of: [a, b, c, c]).mutated)
        XCTAssertEqual(RawBlock.merkleRoot(of: [a, b, c, c]).root, RawBlock.merkleRoot(of: [a, b, c]).root)
    }

    /// The hex of a batch of the largest blocks stays under the RPC client's response limit.
    func testBatchSizesFitTheResponseLimit() {
        let hexBytesPerBlock = 2 * RawBlock.maxSerializedBytes + 1_000
        XCTAssertLessThan(UTXOBlockSource.maxBlocksPerBatch * hexBytesPerBlock, JSONRPCClient.maxResponseBytes)
        XCTAssertLessThanOrEqual(UTXOReadLimits.consensus.maxScriptBytes, RawBlock.maxBaseBytes)
        XCTAssertLessThanOrEqual(RawBlock.maxBaseBytes, RawBlock.maxSerializedBytes)
    }

    // MARK: Output scripts

    func testNullDataFromScriptBytes() throws {
        XCTAssertEqual(UTXOScript.nullData(of: [0x6a]), .data([], scriptByteCount: 1), "a bare OP_RETURN is empty data")
        let eighty = [UInt8](repeating: 0x80, count: 80)
        XCTAssertEqual(UTXOScript.nullData(of: [0x6a, 0x4c, 80] + eighty), .data(eighty, scriptByteCount: 83))
        let eightyOne = [UInt8](repeating: 0x81, count: 81)
        XCTAssertEqual(UTXOScript.nullData(of: [0x6a, 0x4c, 81] + eightyOne), .data(eightyOne, scriptByteCount: 84))
        XCTAssertEqual(
            UTXOScript.nullData(of: [0x6a, 0x4d, 2, 0, 0xab, 0xcd]), .data([0xab, 0xcd], scriptByteCount: 6))
        XCTAssertEqual(
            UTXOScript.nullData(of: [0x6a, 0x02, 0xfe, 0x00, 0x02, 0x01, 0xfe]),
            .data([0xfe, 0x00, 0x01, 0xfe], scriptByteCount: 7),
            "pushes are concatenated")
        XCTAssertEqual(
            UTXOScript.nullData(of: [0x6a, 0x00, 0x4f, 0x51, 0x60]), .data([0x81, 0x01, 0x10], scriptByteCount: 5),
            "OP_0 pushes nothing, OP_1NEGATE 0x81, OP_1...OP_16 their numbers")
        XCTAssertEqual(
            UTXOScript.nullData(of: [0x6a, 0x04, 0xfe, 0x00, 0x01]), .notPushOnly(scriptByteCount: 5),
            "a push past the end")
        XCTAssertEqual(
            UTXOScript.nullData(of: [0x6a, 0x4c]), .notPushOnly(scriptByteCount: 2), "OP_PUSHDATA1 without its length")
        XCTAssertEqual(
            UTXOScript.nullData(of: [0x6a, 0x01, 0x01, 0x76]), .notPushOnly(scriptByteCount: 4), "OP_DUP after a push")
        XCTAssertEqual(
            UTXOScript.nullData(of: [0x6a, 0x50]), .notPushOnly(scriptByteCount: 2), "OP_RESERVED is not a push")
        XCTAssertEqual(UTXOScript.nullData(of: []), .notNullData)
        XCTAssertEqual(UTXOScript.nullData(of: [0x00, 0x6a]), .notNullData)
        XCTAssertEqual(
            try UTXOOutput.nullData(eighty).nullDataContent, .data(eighty, scriptByteCount: 83),
            "what tok builds reads back")
    }

    func testAddressesOfOutputScripts() throws {
        let chain = UTXOChains.dogecoinMainnet
        let receiver = "DRwVeQZVyQz9DtLxNiDGJKSYMqpfAgx1hZ"
        XCTAssertEqual(
            UTXOScript.address(of: try UTXOAddress.parse(receiver, chain: chain).scriptPubKey, chain: chain), receiver)
        let hash = BlockBuilder.filled(0x5a, count: 20)
        XCTAssertEqual(
            UTXOScript.address(of: UTXOAddress(kind: .p2sh, hash160: hash).scriptPubKey, chain: chain),
            UTXOAddress(kind: .p2sh, hash160: hash).encode(chain: chain))
        XCTAssertNil(UTXOScript.address(of: [0x6a], chain: chain))
        XCTAssertNil(UTXOScript.address(of: [], chain: chain))
        XCTAssertNil(
            UTXOScript.address(of: [0x21] + BlockBuilder.filled(0x02, count: 33) + [0xac], chain: chain),
            "pay-to-pubkey")
    }
}

/// Serialises blocks and transactions field by field for the tests.
enum BlockBuilder {
    static func filled(_ byte: UInt8, count: Int = 32) -> [UInt8] { [UInt8](repeating: byte, count: count) }

    static func littleEndian(_ value: UInt64, _ byteCount: Int) -> [UInt8] {
        (0..<byteCount).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    static func compactSize(_ count: Int) -> [UInt8] {
        switch count {
        case 0..<0xfd: return [UInt8(count)]
        case 0xfd...0xffff: return [0xfd] + littleEndian(UInt64(count), 2)
        default: return [0xfe] + littleEndian(UInt64(count), 4)
        }
    }

    /// A coinbase with BIP 34's height push first.
    static func coinbase(height: UInt32, outputs: [UTXOOutput]) -> UTXOTransaction {
        let heightPush: [UInt8] = [0x03] + littleEndian(UInt64(height), 3)
        return UTXOTransaction(
            version: 1,
            inputs: [
                UTXOInput(
                    previousOutput: UTXOOutPoint(txidInternalBytes: filled(0), vout: .max),
                    scriptSig: heightPush + Array("/tok-test/".utf8))
            ],
            outputs: outputs)
    }

    static func spend(_ outPoints: [([UInt8], UInt32)], outputs: [UTXOOutput]) -> UTXOTransaction {
        UTXOTransaction(
            version: 2,
            inputs: outPoints.map {
                UTXOInput(
                    previousOutput: UTXOOutPoint(txidInternalBytes: $0.0, vout: $0.1),
                    scriptSig: [0x01, 0x01])
            },
            outputs: outputs, lockTime: 17)
    }

    /// BIP 144: version ‖ 00 01 ‖ inputs ‖ outputs ‖ witnesses ‖ lock time.
    static func segWit(_ transaction: UTXOTransaction, witnesses: [[[UInt8]]]) -> [UInt8] {
        let legacy = transaction.serialized()
        var bytes = Array(legacy.prefix(4)) + [0x00, 0x01] + Array(legacy[4..<legacy.count - 4])
        for stack in witnesses {
            bytes += compactSize(stack.count)
            for item in stack { bytes += compactSize(item.count) + item }
        }
        return bytes + Array(legacy.suffix(4))
    }

    static func header(
        version: UInt32, previous: [UInt8], merkleRoot: [UInt8], time: UInt32, bits: UInt32, nonce: UInt32
    ) -> [UInt8] {
        littleEndian(UInt64(version), 4) + previous + merkleRoot + littleEndian(UInt64(time), 4)
            + littleEndian(UInt64(bits), 4) + littleEndian(UInt64(nonce), 4)
    }

    static func auxPow(
        coinbase: [UInt8], parentHash: [UInt8], coinbaseBranch: [[UInt8]], coinbaseIndex: UInt32,
        chainBranch: [[UInt8]], chainIndex: UInt32, parentHeader: [UInt8]
    ) -> [UInt8] {
        coinbase + parentHash + compactSize(coinbaseBranch.count) + coinbaseBranch.joined()
            + littleEndian(UInt64(coinbaseIndex), 4)
            + compactSize(chainBranch.count) + chainBranch.joined() + littleEndian(UInt64(chainIndex), 4) + parentHeader
    }

    /// A block of serialised transactions; their txids are the sha256d of the bytes unless
    /// given (SegWit), the merkle root is theirs unless given.
    static func block(
        version: UInt32 = 0x0062_0004, previous: [UInt8] = filled(0x99), merkleRoot: [UInt8]? = nil,
        time: UInt32 = 1_700_000_000,
        auxPow: [UInt8] = [], transactions: [[UInt8]], txids: [[UInt8]]? = nil
    ) -> [UInt8] {
        let hashes = txids ?? transactions.map(Hashing.sha256d)
        let root = merkleRoot ?? (hashes.isEmpty ? filled(0) : merkle(hashes))
        return header(version: version, previous: previous, merkleRoot: root, time: time, bits: 0x207f_ffff, nonce: 1)
            + auxPow + compactSize(transactions.count) + transactions.joined()
    }

    /// The merkle root, recursively (an independent writing of Core's rule).
    static func merkle(_ hashes: [[UInt8]]) -> [UInt8] {
        if hashes.count == 1 { return hashes[0] }
        let padded = hashes.count % 2 == 1 ? hashes + [hashes[hashes.count - 1]] : hashes
        return merkle(stride(from: 0, to: padded.count, by: 2).map { Hashing.sha256d(padded[$0] + padded[$0 + 1]) })
    }
}
