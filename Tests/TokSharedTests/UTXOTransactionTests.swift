import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
@testable import TokShared

/// Legacy transactions: wire format, txid and sighash checked against Litecoin Core 0.21
/// (same legacy script and sighash rules as Dogecoin 1.14). The fixture was produced by a
/// litecoind -regtest wallet (`createrawtransaction` + `signrawtransactionwithwallet`, legacy
/// addresses); the node tests at the end start a real litecoind and make it judge what we sign.
final class UTXOTransactionTests: XCTestCase {
    private func unhex(_ text: String) -> [UInt8] { Hex.decode(text)! }

    /// Two coinbase outputs of mgxHEjTDqJ1qyeZa6W2Um4s4DixhYHFty3 spent to 12.3456789 LTC and
    /// 87.65 LTC. `decoderawtransaction` gave the txid, size 372, and the fields below.
    private let walletTxHex =
        "020000000292c5fdda9baaecd3d087eb6e4d10a191cf83f72a2ded7e37c03d9698fcb9c611000000006a47304402206012fc98b6ea8415cbfe09155d0684d4d558cb167203df63fe67409ad2c3860a02200a03c164eff6cd849d74b38414e2039bc72ba1e95791d6d29b981a4b7a2960170121035426ea65695ad9515cc4ba1dbe8029209c4e693606a6baade2d301254f33c3a3fffffffffa0af4eb408eb8b857aeda3ca190c2c823332850813bb1e04588f537c7a3548c000000006a4730440220377807ef20f33c9b27866f4337bd7229fc1134bc1c6f878c119300e75d5658e5022070653368ff9fb89e3f31cd86a67380b675fc884ef5952b0583fc3ed1daf2e8cc0121035426ea65695ad9515cc4ba1dbe8029209c4e693606a6baade2d301254f33c3a3ffffffff02d2029649000000001976a914303c0b813d1edaaec9172f7bf0a46c76df85ba7988ac40496f0a020000001976a9140fc25661bb98cb23009538dcd63fb6f0b9cdf01688ac00000000"
    private let walletTxId = "35c2bf829abb48ed6844e0b6ebce50e42e3c9e4221bd33adf255c15a5a321086"
    private let walletPublicKey = "035426ea65695ad9515cc4ba1dbe8029209c4e693606a6baade2d301254f33c3a3"

    // MARK: Wire format

    func testParsesAndReserializesAWalletSignedTransaction() throws {
        let tx = try UTXOTransaction(hex: walletTxHex)
        XCTAssertEqual(tx.version, 2)
        XCTAssertEqual(tx.lockTime, 0)
        XCTAssertEqual(
            tx.inputs.map(\.previousOutput.description),
            [
                "11c6b9fc98963dc0377eed2d2af783cf91a1104d6eeb87d0d3ecaa9bdafdc592:0",
                "8c54a3c737f58845e0b13b8150283323c8c290a13cdaae57b8b88e40ebf40afa:0",
            ])
        XCTAssertEqual(tx.inputs.map(\.sequence), [UTXOInput.finalSequence, UTXOInput.finalSequence])
        XCTAssertEqual(tx.outputs.map(\.valueBaseUnits), [1_234_567_890, 8_765_000_000])
        XCTAssertEqual(
            tx.outputs.map { Hex.encode($0.scriptPubKey) },
            [
                "76a914303c0b813d1edaaec9172f7bf0a46c76df85ba7988ac",
                "76a9140fc25661bb98cb23009538dcd63fb6f0b9cdf01688ac",
            ])
        XCTAssertEqual(tx.serializedHex, walletTxHex)
        XCTAssertEqual(tx.serialized().count, 372)
        XCTAssertEqual(tx.txid, walletTxId)
        XCTAssertEqual(try UTXOTransaction(hex: walletTxHex.uppercased()), tx)
    }

    /// Splits a P2PKH scriptSig `<sig ‖ hashtype> <pubkey>` (direct pushes).
    private func splitP2PKHScriptSig(_ script: [UInt8]) -> (signatureDER: [UInt8], hashType: UInt8, publicKey: [UInt8])?
    {
        guard let sigLength = script.first.map(Int.init), (9...73).contains(sigLength), script.count > sigLength + 1
        else { return nil }
        let signature = Array(script[1...sigLength])
        let keyLength = Int(script[sigLength + 1])
        guard script.count == sigLength + 2 + keyLength else { return nil }
        return (Array(signature.dropLast()), signature.last!, Array(script[(sigLength + 2)...]))
    }

    /// The node signed each input over Core's legacy sighash; they verify against ours.
    func testOurSighashMatchesTheNodesSignatures() throws {
        let tx = try UTXOTransaction(hex: walletTxHex)
        let scriptCode = UTXOAddress.p2pkh(publicKey: unhex(walletPublicKey)).scriptPubKey
        for index in tx.inputs.indices {
            let parts = try XCTUnwrap(splitP2PKHScriptSig(tx.inputs[index].scriptSig))
            XCTAssertEqual(parts.hashType, 0x01)
            XCTAssertEqual(Hex.encode(parts.publicKey), walletPublicKey)
            let digest = tx.signatureHash(inputIndex: index, scriptCode: scriptCode)
            XCTAssertTrue(
                Secp256k1.verifyDER(signatureDER: parts.signatureDER, digest32: digest, publicKey: parts.publicKey))
            // The other input's digest, or another script code, does not verify.
            let other = tx.signatureHash(inputIndex: 1 - index, scriptCode: scriptCode)
            XCTAssertFalse(
                Secp256k1.verifyDER(signatureDER: parts.signatureDER, digest32: other, publicKey: parts.publicKey))
            let wrongCode = tx.signatureHash(inputIndex: index, scriptCode: tx.outputs[0].scriptPubKey)
            XCTAssertFalse(
                Secp256k1.verifyDER(signatureDER: parts.signatureDER, digest32: wrongCode, publicKey: parts.publicKey))
        }
    }

    func testSigningProducesVerifiableDeterministicScriptSigs() throws {
        let keys = [try PrivateKey(bytes: Array(1...32)), try PrivateKey(bytes: Array(33...64))]
        let inputs = try (0..<2).map { index in
            UTXOInput(previousOutput: try UTXOOutPoint(txid: String(repeating: "ab", count: 32), vout: UInt32(index)))
        }
        let payee = UTXOAddress.p2pkh(publicKey: keys[1].publicKey(compressed: true))
        var tx = UTXOTransaction(inputs: inputs, outputs: [UTXOOutput(valueBaseUnits: 5_000_000, address: payee)])
        let unsigned = tx
        try tx.signP2PKHInputs(keys: keys)
        for (index, key) in keys.enumerated() {
            let publicKey = key.publicKey(compressed: true)
            let parts = try XCTUnwrap(splitP2PKHScriptSig(tx.inputs[index].scriptSig))
            XCTAssertEqual(parts.publicKey, publicKey)
            XCTAssertEqual(parts.hashType, 0x01)
            let digest = unsigned.signatureHash(
                inputIndex: index, scriptCode: UTXOAddress.p2pkh(publicKey: publicKey).scriptPubKey)
            XCTAssertTrue(Secp256k1.verifyDER(signatureDER: parts.signatureDER, digest32: digest, publicKey: publicKey))
            // The digest ignores every scriptSig, so it is the same after signing.
            XCTAssertEqual(
                tx.signatureHash(inputIndex: index, scriptCode: UTXOAddress.p2pkh(publicKey: publicKey).scriptPubKey),
                digest)
        }
        var again = unsigned
        try again.signP2PKHInputs(keys: keys)
        XCTAssertEqual(again, tx, "RFC 6979 nonces make signing deterministic")
        XCTAssertEqual(try UTXOTransaction(parsing: tx.serialized()), tx)
        XCTAssertLessThanOrEqual(
            tx.serialized().count, UTXOTransaction.estimatedSizeBytes(p2pkhInputCount: 2, p2pkhOutputCount: 1))
    }

    func testSigningRefusesMismatchedKeysAndScripts() throws {
        let key = try PrivateKey(bytes: Array(1...32))
        let input = UTXOInput(
            previousOutput: try UTXOOutPoint(txid: String(repeating: "00", count: 31) + "01", vout: 0))
        var tx = UTXOTransaction(inputs: [input], outputs: [UTXOOutput(valueBaseUnits: 1, scriptPubKey: [0x51])])
        XCTAssertThrowsError(try tx.signP2PKHInputs(keys: [key, key])) {
            XCTAssertEqual(($0 as? TokError)?.code, .badKey)
        }
        // The previous output pays the uncompressed key's address: signing with the compressed one would be refused by nodes.
        let uncompressedScript = UTXOAddress.p2pkh(publicKey: key.publicKey(compressed: false)).scriptPubKey
        XCTAssertThrowsError(try tx.signP2PKHInputs(keys: [key], previousScriptPubKeys: [uncompressedScript])) {
            XCTAssertEqual(($0 as? TokError)?.code, .badKey)
        }
        XCTAssertEqual(tx.inputs[0].scriptSig, [], "a refused signing leaves the transaction unchanged")
        let compressedScript = UTXOAddress.p2pkh(publicKey: key.publicKey(compressed: true)).scriptPubKey
        XCTAssertNoThrow(try tx.signP2PKHInputs(keys: [key], previousScriptPubKeys: [compressedScript]))
    }

    func testOutPointText() throws {
        let outPoint = try UTXOOutPoint(txid: walletTxId.uppercased(), vout: 7)
        XCTAssertEqual(outPoint.txid, walletTxId)
        XCTAssertEqual(outPoint.txidInternalBytes, unhex(walletTxId).reversed())
        for bad in [
            "", "0x" + String(walletTxId.dropFirst(2)), String(walletTxId.dropLast()), walletTxId + "00",
            String(walletTxId.dropLast()) + "g",
        ] {
            XCTAssertThrowsError(try UTXOOutPoint(txid: bad, vout: 0), bad) {
                XCTAssertEqual(($0 as? TokError)?.code, .badTxId)
            }
        }
    }

    // MARK: Refusals

    private func assertRefused(
        _ bytes: [UInt8], containing fragment: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try UTXOTransaction(parsing: bytes), file: file, line: line) { error in
            XCTAssertEqual((error as? TokError)?.code, .badRawTx, file: file, line: line)
            let message = (error as? TokError)?.message ?? ""
            XCTAssertTrue(message.contains(fragment), "\(message) lacks \(fragment)", file: file, line: line)
        }
    }

    func testRefusesSegWitAndMalformedSerializations() throws {
        let good = unhex(walletTxHex)
        let version = Array(good[0..<4])
        let afterVersion = Array(good[4...])
        assertRefused(version + [0x00, 0x01] + afterVersion, containing: "SegWit")
        assertRefused(version + [0x00, 0x00], containing: "no inputs")
        assertRefused(good + [0x00], containing: "after the lock time")
        assertRefused(Array(good.dropLast()), containing: "ends early")
        assertRefused([], containing: "ends early")
        // Input count 2 written as 0xfd 0x02 0x00: Core requires the one-byte form.
        assertRefused(
            version + [0xfd, 0x02, 0x00] + Array(afterVersion.dropFirst()), containing: "shortest CompactSize")
        assertRefused(version + [0xfd, 0x11, 0x27], containing: "input count 10001 exceeds")
        assertRefused(
            [UInt8](repeating: 0, count: UTXOTransaction.maxSerializedBytes + 1), containing: "at most 100000")
        // One input, no outputs.
        let oneInput = version + [0x01] + [UInt8](repeating: 0, count: 36) + [0x00] + [0xff, 0xff, 0xff, 0xff]
        assertRefused(oneInput + [0x00] + [0, 0, 0, 0], containing: "no outputs")
        // An output whose value has the top bit set (negative as Core's int64 CAmount).
        assertRefused(oneInput + [0x01] + [0, 0, 0, 0, 0, 0, 0, 0x80] + [0x00] + [0, 0, 0, 0], containing: "negative")
        // A script longer than MAX_SCRIPT_SIZE.
        assertRefused(
            oneInput + [0x01] + [UInt8](repeating: 0, count: 8) + [0xfd, 0x11, 0x27],
            containing: "scriptPubKey length 10001")
        XCTAssertNoThrow(
            try UTXOTransaction(parsing: oneInput + [0x01] + [UInt8](repeating: 0, count: 8) + [0x00] + [0, 0, 0, 0]))
        XCTAssertThrowsError(try UTXOTransaction(hex: "0")) { XCTAssertEqual(($0 as? TokError)?.code, .badRawTx) }
        XCTAssertThrowsError(try UTXOTransaction(hex: "zz")) { XCTAssertEqual(($0 as? TokError)?.code, .badRawTx) }
    }

    // MARK: OP_RETURN, size, fees, policy

    func testNullDataOutputs() throws {
        XCTAssertEqual(try UTXOOutput.nullData([]).scriptPubKey, [0x6a])
        XCTAssertEqual(
            try UTXOOutput.nullData([0xfe, 0x00, 0x01, 0xfe]).scriptPubKey, [0x6a, 0x04, 0xfe, 0x00, 0x01, 0xfe])
        let seventyFive = [UInt8](repeating: 7, count: 75)
        XCTAssertEqual(try UTXOOutput.nullData(seventyFive).scriptPubKey, [0x6a, 75] + seventyFive)
        for count in 76...80 {
            let data = [UInt8](repeating: 9, count: count)
            let output = try UTXOOutput.nullData(data)
            XCTAssertEqual(output.scriptPubKey, [0x6a, 0x4c, UInt8(count)] + data)
            XCTAssertEqual(output.valueBaseUnits, 0)
            XCTAssertTrue(output.isNullData)
        }
        XCTAssertEqual(try UTXOOutput.nullData([UInt8](repeating: 0, count: 80)).scriptPubKey.count, 83)
        XCTAssertThrowsError(try UTXOOutput.nullData([UInt8](repeating: 0, count: 81))) { error in
            XCTAssertEqual((error as? TokError)?.code, .badRawTx)
            XCTAssertTrue((error as? TokError)?.message.contains("81 bytes") ?? false)
        }
    }

    func testSizeEstimates() throws {
        XCTAssertEqual(UTXOTransaction.estimatedSizeBytes(p2pkhInputCount: 1, p2pkhOutputCount: 2), 226)
        XCTAssertEqual(UTXOTransaction.estimatedSizeBytes(p2pkhInputCount: 1, p2pkhOutputCount: 1), 192)
        XCTAssertEqual(
            UTXOTransaction.estimatedSizeBytes(p2pkhInputCount: 1, outputScriptByteCounts: [25, 83]), 10 + 148 + 34 + 92
        )
        // 253 inputs need a 3-byte count.
        XCTAssertEqual(
            UTXOTransaction.estimatedSizeBytes(p2pkhInputCount: 253, p2pkhOutputCount: 1), 8 + 3 + 1 + 253 * 148 + 34)
        // An upper bound that is tight: a signature is 71 or 72 bytes with its hash type byte.
        let key = try PrivateKey(bytes: Array(1...32))
        for inputCount in 1...4 {
            let inputs = try (0..<inputCount).map {
                UTXOInput(previousOutput: try UTXOOutPoint(txid: String(repeating: "cd", count: 32), vout: UInt32($0)))
            }
            let payee = UTXOAddress.p2pkh(publicKey: key.publicKey(compressed: true))
            var tx = UTXOTransaction(
                inputs: inputs,
                outputs: [
                    UTXOOutput(valueBaseUnits: 1, address: payee),
                    UTXOOutput(valueBaseUnits: 2, address: payee),
                ])
            try tx.signP2PKHInputs(keys: Array(repeating: key, count: inputCount))
            let estimate = UTXOTransaction.estimatedSizeBytes(p2pkhInputCount: inputCount, p2pkhOutputCount: 2)
            XCTAssertLessThanOrEqual(tx.serialized().count, estimate)
            XCTAssertGreaterThanOrEqual(tx.serialized().count, estimate - 2 * inputCount)
        }
    }

    func testMinimumFees() {
        let doge = UTXOChains.dogecoinMainnet
        // 226 bytes at 0.001 DOGE/kB is 22,600 koinu, under the flat 0.01 DOGE minimum.
        XCTAssertEqual(
            UTXOTransaction.minimumFeeBaseUnits(
                sizeBytes: 226, outputValuesBaseUnits: [100_000_000, 5_000_000], chain: doge), 1_000_000)
        // 20,000 bytes: 2,000,000 koinu by rate.
        XCTAssertEqual(
            UTXOTransaction.minimumFeeBaseUnits(sizeBytes: 20_000, outputValuesBaseUnits: [100_000_000], chain: doge),
            2_000_000)
        // One output under the 0.01 DOGE soft dust limit adds 0.01 DOGE.
        XCTAssertEqual(
            UTXOTransaction.minimumFeeBaseUnits(
                sizeBytes: 226, outputValuesBaseUnits: [100_000_000, 500_000], chain: doge), 2_000_000)
        let bitcoin = UTXOChains.bitcoinMainnet
        XCTAssertEqual(
            UTXOTransaction.minimumFeeBaseUnits(sizeBytes: 226, outputValuesBaseUnits: [1_000], chain: bitcoin), 226)
        XCTAssertEqual(
            UTXOTransaction.minimumFeeBaseUnits(sizeBytes: 1, outputValuesBaseUnits: [1_000], chain: bitcoin), 1,
            "rounded up")
        var absurd = doge
        absurd.minRelayFeePerKilobyteBaseUnits = .max
        XCTAssertEqual(
            UTXOTransaction.minimumFeeBaseUnits(sizeBytes: 1_000, outputValuesBaseUnits: [100_000_000], chain: absurd),
            .max / 1000,
            "saturates instead of trapping")
    }

    func testStandardnessChecks() throws {
        let chain = UTXOChains.dogecoinMainnet
        let payee = UTXOAddress(kind: .p2pkh, hash160: [UInt8](repeating: 1, count: 20))
        let input = UTXOInput(previousOutput: try UTXOOutPoint(txid: walletTxId, vout: 0))
        func tx(_ outputs: [UTXOOutput]) -> UTXOTransaction { UTXOTransaction(inputs: [input], outputs: outputs) }
        let opReturn = try UTXOOutput.nullData(Array("tok".utf8))
        XCTAssertNoThrow(
            try tx([UTXOOutput(valueBaseUnits: chain.dustLimitBaseUnits, address: payee), opReturn]).checkStandard(
                chain: chain))
        let refusals: [([UTXOOutput], String)] = [
            ([UTXOOutput(valueBaseUnits: chain.dustLimitBaseUnits - 1, address: payee)], "dust"),
            ([opReturn, opReturn], "more than one OP_RETURN"),
            (
                [UTXOOutput(valueBaseUnits: 0, scriptPubKey: [0x6a, 0x4c, 81] + [UInt8](repeating: 0, count: 81))],
                "OP_RETURN"
            ),
            ([UTXOOutput(valueBaseUnits: 0, scriptPubKey: [0x6a, 0x76])], "OP_RETURN"),  // not push-only
            ([UTXOOutput(valueBaseUnits: chain.maxMoneyBaseUnits + 1, address: payee)], "MAX_MONEY"),
            (
                [
                    UTXOOutput(valueBaseUnits: chain.maxMoneyBaseUnits, address: payee),
                    UTXOOutput(valueBaseUnits: chain.maxMoneyBaseUnits, address: payee),
                ], "MAX_MONEY"
            ),
            // 20 × 10^18 passes 2^64: refused, not a trap.
            (
                Array(repeating: UTXOOutput(valueBaseUnits: chain.maxMoneyBaseUnits, address: payee), count: 20),
                "MAX_MONEY"
            ),
        ]
        for (outputs, fragment) in refusals {
            XCTAssertThrowsError(try tx(outputs).checkStandard(chain: chain), fragment) { error in
                XCTAssertEqual((error as? TokError)?.code, .badRawTx)
                XCTAssertTrue((error as? TokError)?.message.contains(fragment) ?? false, "\(error)")
            }
        }
    }

    // MARK: Genesis blocks

    /// Rebuilds each chain's genesis block the way every Core fork's CreateGenesisBlock does
    /// (one coinbase transaction; scriptSig = push(486604799) push(4) push(timestamp text);
    /// one output paying `reward` to <65-byte key> OP_CHECKSIG), hashes its 80-byte header, and
    /// compares with the table. The header constants are those of Dogecoin Core 1.14's and
    /// Bitcoin Core's chainparams.cpp; Litecoin's regtest block was also read from the node
    /// (`getblock <hash> 0`). This checks the table's hashes and our serializer together.
    func testGenesisHashesRecomputeFromTheirHeaders() throws {
        let satoshiKey =
            "04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5f"
        let dogeKey =
            "040184710fa689ad5023690c80f3a49c8f13f8d45b8c857fbcbc8bc4a8e4d3eb4b10f4d4604fa08dce601aaf0f470216fe1b51850b4acf21b179c45070ac7b03a9"
        let times = "The Times 03/Jan/2009 Chancellor on brink of second bailout for banks"
        let nyTimes = "NY Times 05/Oct/2011 Steve Jobs, Apple\u{2019}s Visionary, Dies at 56"
        let recipes: [(UTXOChainParameters, String, String, UInt32, UInt32, UInt32, UInt64)] = [
            (UTXOChains.dogecoinMainnet, "Nintondo", dogeKey, 1_386_325_540, 99_943, 0x1e0f_fff0, 88),
            (UTXOChains.dogecoinTestnet, "Nintondo", dogeKey, 1_391_503_289, 997_879, 0x1e0f_fff0, 88),
            (UTXOChains.dogecoinRegtest, "Nintondo", dogeKey, 1_296_688_602, 2, 0x207f_ffff, 88),
            (UTXOChains.litecoinRegtest, nyTimes, dogeKey, 1_296_688_602, 0, 0x207f_ffff, 50),
            (UTXOChains.bitcoinMainnet, times, satoshiKey, 1_231_006_505, 2_083_236_893, 0x1d00_ffff, 50),
            (UTXOChains.bitcoinTestnet, times, satoshiKey, 1_296_688_602, 414_098_458, 0x1d00_ffff, 50),
        ]
        XCTAssertEqual(recipes.count, UTXOChains.all.count, "every chain in the table is checked")
        for (chain, text, key, time, nonce, bits, rewardCoins) in recipes {
            let coinbase = UTXOTransaction(
                version: 1,
                inputs: [
                    UTXOInput(
                        previousOutput: UTXOOutPoint(txidInternalBytes: [UInt8](repeating: 0, count: 32), vout: .max),
                        scriptSig: Script.push([0xff, 0xff, 0x00, 0x1d]) + Script.push([4])
                            + Script.push(Array(text.utf8)))
                ],
                outputs: [
                    UTXOOutput(
                        valueBaseUnits: rewardCoins * 100_000_000,
                        scriptPubKey: Script.push(unhex(key)) + [Opcode.checkSig])
                ])
            XCTAssertTrue(coinbase.inputs[0].previousOutput.isNull)
            // A block of one transaction has that transaction's hash as its merkle root.
            let merkleRoot = Hashing.sha256d(coinbase.serialized())
            var header: [UInt8] = []
            Wire.appendLittleEndian(UInt32(1), byteCount: 4, to: &header)
            header += [UInt8](repeating: 0, count: 32) + merkleRoot
            for field in [time, bits, nonce] { Wire.appendLittleEndian(field, byteCount: 4, to: &header) }
            XCTAssertEqual(Hex.encode(Hashing.sha256d(header).reversed()), chain.genesisHash, chain.name)
        }
    }

    // MARK: Against a real node (litecoind -regtest)

    nonisolated(unsafe) static var sharedNode: LitecoinRegtestNode?
    nonisolated(unsafe) static var startError: Error?
    nonisolated(unsafe) static var usedOutPoints: Set<UTXOOutPoint> = []

    override class func tearDown() {
        sharedNode?.stop()
        sharedNode = nil
        super.tearDown()
    }

    private let chain = UTXOChains.litecoinRegtest

    /// The node, started by the first test that needs it (so the offline tests above never
    /// pay for it, even when each test runs in its own process), or why it could not start.
    private func liveNode() throws -> LitecoinRegtestNode {
        if UTXOTransactionTests.sharedNode == nil && UTXOTransactionTests.startError == nil {
            do {
                UTXOTransactionTests.sharedNode = try LitecoinRegtestNode()
            } catch {
                UTXOTransactionTests.startError = error
            }
        }
        if let error = UTXOTransactionTests.startError { throw error }
        return UTXOTransactionTests.sharedNode!
    }

    /// A mature coinbase output of the miner's address that no other test has used.
    private func matureCoin(
        _ node: LitecoinRegtestNode
    ) throws -> (outPoint: UTXOOutPoint, valueBaseUnits: UInt64, scriptPubKey: [UInt8]) {
        let unspent =
            try node.call("listunspent", [chain.coinbaseMaturityBlocks, 9_999_999, [node.minerAddress]])
            as! [[String: Any]]
        for entry in unspent {
            let outPoint = try UTXOOutPoint(txid: entry["txid"] as! String, vout: UInt32(entry["vout"] as! String)!)
            guard !UTXOTransactionTests.usedOutPoints.contains(outPoint) else { continue }
            UTXOTransactionTests.usedOutPoints.insert(outPoint)
            return (
                outPoint, try CoinAmount.baseUnits(fromDecimalText: entry["amount"] as! String, chain: chain),
                unhex(entry["scriptPubKey"] as! String)
            )
        }
        throw XCTSkip("the regtest node has no unused mature coinbase output left")
    }

    /// A P2PKH spend of one mature coin signed by tok: `payments` then change to the miner,
    /// paying the fee our estimator and the chain's policy give.
    private func ourSpend(_ node: LitecoinRegtestNode, payments: [UTXOOutput]) throws -> UTXOTransaction {
        let coin = try matureCoin(node)
        let size = UTXOTransaction.estimatedSizeBytes(
            p2pkhInputCount: 1,
            outputScriptByteCounts: payments.map(\.scriptPubKey.count) + [25])
        let fee = UTXOTransaction.minimumFeeBaseUnits(
            sizeBytes: size, outputValuesBaseUnits: payments.map(\.valueBaseUnits), chain: chain)
        let change = coin.valueBaseUnits - payments.map(\.valueBaseUnits).reduce(0, +) - fee
        let miner = try UTXOAddress.parse(node.minerAddress, chain: chain)
        var tx = UTXOTransaction(
            version: 2, inputs: [UTXOInput(previousOutput: coin.outPoint)],
            outputs: payments + [UTXOOutput(valueBaseUnits: change, address: miner)])
        try tx.signP2PKHInputs(keys: [node.minerKey], previousScriptPubKeys: [coin.scriptPubKey])
        return tx
    }

    private func freshAddress(_ node: LitecoinRegtestNode) throws -> UTXOAddress {
        try UTXOAddress.parse(node.call("getnewaddress", ["", "legacy"]) as! String, chain: chain)
    }

    private func assertRejected(
        _ node: LitecoinRegtestNode, _ tx: UTXOTransaction, code: String, reason: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try node.call("sendrawtransaction", [tx.serializedHex]), file: file, line: line) { error in
            guard let error = error as? LitecoinRegtestNode.RPCError else {
                return XCTFail("\(error)", file: file, line: line)
            }
            XCTAssertEqual(error.code, code, error.message, file: file, line: line)
            XCTAssertTrue(error.message.contains(reason), "\(error.message) lacks \(reason)", file: file, line: line)
        }
    }

    func testNodeWalletTransactionRoundTripsWithTheNodesTxid() throws {
        let node = try liveNode()
        let coin = try matureCoin(node)
        let payee = try freshAddress(node)
        let change = coin.valueBaseUnits - 1_234_567_890 - 100_000
        let raw =
            try node.call(
                "createrawtransaction",
                [
                    [["txid": coin.outPoint.txid, "vout": Int(coin.outPoint.vout)]],
                    [
                        payee.encode(chain: chain): "12.3456789",
                        node.minerAddress: CoinAmount.decimalText(baseUnits: change, decimals: 8),
                    ],
                ]) as! String
        let signed = try node.call("signrawtransactionwithwallet", [raw]) as! [String: Any]
        XCTAssertEqual(signed["complete"] as? Bool, true)
        let hex = signed["hex"] as! String
        let tx = try UTXOTransaction(hex: hex)
        XCTAssertEqual(tx.serializedHex, hex)
        // The outputs object's key order is the JSON encoder's, so compare as a set.
        XCTAssertEqual(Set(tx.outputs.map(\.valueBaseUnits)), [1_234_567_890, change])
        // The wallet's signature verifies over our sighash of the coin's script.
        let parts = try XCTUnwrap(splitP2PKHScriptSig(tx.inputs[0].scriptSig))
        let digest = tx.signatureHash(inputIndex: 0, scriptCode: coin.scriptPubKey)
        XCTAssertTrue(
            Secp256k1.verifyDER(signatureDER: parts.signatureDER, digest32: digest, publicKey: parts.publicKey))
        let decoded = try node.call("decoderawtransaction", [hex]) as! [String: Any]
        XCTAssertEqual(tx.txid, decoded["txid"] as? String)
        XCTAssertEqual(try node.call("sendrawtransaction", [hex]) as? String, tx.txid)
    }

    func testOurP2PKHSpendIsAcceptedAndMined() throws {
        let node = try liveNode()
        // The key behind the node's legacy address, from dumpprivkey via our WIF decoder.
        XCTAssertEqual(
            UTXOAddress.p2pkh(publicKey: node.minerKey.publicKey(compressed: true)).encode(chain: chain),
            node.minerAddress)
        let payee = try freshAddress(node)
        let tx = try ourSpend(node, payments: [UTXOOutput(valueBaseUnits: 100_000_000, address: payee)])
        try tx.checkStandard(chain: chain)
        // (a) our own verification of the signature over our sighash.
        let parts = try XCTUnwrap(splitP2PKHScriptSig(tx.inputs[0].scriptSig))
        let digest = tx.signatureHash(
            inputIndex: 0, scriptCode: UTXOAddress.p2pkh(publicKey: parts.publicKey).scriptPubKey)
        XCTAssertTrue(
            Secp256k1.verifyDER(signatureDER: parts.signatureDER, digest32: digest, publicKey: parts.publicKey))
        // (b) the node's consensus and policy checks.
        XCTAssertEqual(try node.call("sendrawtransaction", [tx.serializedHex]) as? String, tx.txid)
        let blocks = try node.call("generatetoaddress", [1, node.minerAddress]) as! [String]
        let mined = try node.call("getrawtransaction", [tx.txid, true]) as! [String: Any]
        XCTAssertEqual(mined["blockhash"] as? String, blocks.first)
        XCTAssertEqual(mined["confirmations"] as? String, "1")
        XCTAssertEqual(mined["hex"] as? String, tx.serializedHex)
        let received = try node.call("getreceivedbyaddress", [payee.encode(chain: chain), 1]) as! String
        XCTAssertEqual(try CoinAmount.baseUnits(fromDecimalText: received, chain: chain), 100_000_000)
    }

    func testFlippedSignatureByteIsRejected() throws {
        let node = try liveNode()
        var tx = try ourSpend(node, payments: [UTXOOutput(valueBaseUnits: 50_000_000, address: try freshAddress(node))])
        // scriptSig = push-length, 0x30, DER length, 0x02, r length, r…: flip a byte inside r,
        // which keeps the DER well-formed so only the signature check can fail.
        tx.inputs[0].scriptSig[8] ^= 0x01
        let parts = try XCTUnwrap(splitP2PKHScriptSig(tx.inputs[0].scriptSig))
        let digest = tx.signatureHash(
            inputIndex: 0, scriptCode: UTXOAddress.p2pkh(publicKey: parts.publicKey).scriptPubKey)
        XCTAssertFalse(
            Secp256k1.verifyDER(signatureDER: parts.signatureDER, digest32: digest, publicKey: parts.publicKey))
        assertRejected(node, tx, code: "-26", reason: "mandatory-script-verify-flag-failed")
    }

    func testDustOutputIsRejectedAtTheChainsLimit() throws {
        let node = try liveNode()
        let payee = try freshAddress(node)
        let dust = try ourSpend(
            node, payments: [UTXOOutput(valueBaseUnits: chain.dustLimitBaseUnits - 1, address: payee)])
        XCTAssertThrowsError(try dust.checkStandard(chain: chain)) {
            XCTAssertEqual(($0 as? TokError)?.code, .badRawTx)
        }
        assertRejected(node, dust, code: "-26", reason: "dust")
        // Exactly at the limit is standard: the table's value is the node's boundary.
        let atLimit = try ourSpend(
            node, payments: [UTXOOutput(valueBaseUnits: chain.dustLimitBaseUnits, address: payee)])
        XCTAssertNoThrow(try atLimit.checkStandard(chain: chain))
        let verdict = try node.call("testmempoolaccept", [[atLimit.serializedHex]]) as! [[String: Any]]
        XCTAssertEqual(verdict.first?["allowed"] as? Bool, true, "\(verdict)")
    }

    func testOpReturnOfEightyBytesIsRelayedAndEightyOneIsNot() throws {
        let node = try liveNode()
        // Our builder refuses 81 bytes in the first place.
        XCTAssertThrowsError(try UTXOOutput.nullData([UInt8](repeating: 0x42, count: 81))) {
            XCTAssertEqual(($0 as? TokError)?.code, .badRawTx)
        }
        let eighty = try ourSpend(node, payments: [try UTXOOutput.nullData([UInt8](repeating: 0x42, count: 80))])
        let verdict = try node.call("testmempoolaccept", [[eighty.serializedHex]]) as! [[String: Any]]
        XCTAssertEqual(verdict.first?["allowed"] as? Bool, true, "\(verdict)")
        // Built by hand, an 81-byte OP_RETURN is refused by the node as non-standard.
        let handBuilt = UTXOOutput(
            valueBaseUnits: 0, scriptPubKey: [0x6a, 0x4c, 81] + [UInt8](repeating: 0x42, count: 81))
        let tooLong = try ourSpend(node, payments: [handBuilt])
        XCTAssertThrowsError(try tooLong.checkStandard(chain: chain))
        assertRejected(node, tooLong, code: "-26", reason: "scriptpubkey")
    }
}

/// A litecoind -regtest on a free loopback port in a temporary data directory, spoken to over
/// JSON-RPC. Answers go through JSONNumberText first, so amounts arrive as exact text and
/// every number (error codes, confirmations) as a string.
final class LitecoinRegtestNode: @unchecked Sendable {
    struct RPCError: Error, CustomStringConvertible {
        let code: String
        let message: String
        var description: String { "RPC error \(code): \(message)" }
    }

    let process = Process()
    let dataDirectory: URL
    let port: Int
    private(set) var minerAddress = ""
    private(set) var minerKey = PrivateKey.generate()
    private var stopped = false

    /// Debian installs the daemon as /usr/lib/litecoin/litecoind behind a /usr/bin wrapper that
    /// creates ~/.litecoin; the real binary is used when present so tests leave no trace in $HOME.
    static func daemonPath() -> String? {
        ["/usr/lib/litecoin/litecoind", "/usr/bin/litecoind", "/usr/local/bin/litecoind"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    init() throws {
        guard let daemon = LitecoinRegtestNode.daemonPath() else {
            throw XCTSkip("litecoind is not installed (apt-get install litecoind): the real-node tests are skipped")
        }
        dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("tok-ltc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        port = try LitecoinRegtestNode.freeLoopbackPort()
        process.executableURL = URL(fileURLWithPath: daemon)
        process.arguments = [
            "-regtest", "-daemon=0", "-listen=0", "-txindex=1", "-fallbackfee=0.0001",
            "-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1", "-rpcport=\(port)", "-rpcuser=u", "-rpcpassword=p",
            "-datadir=\(dataDirectory.path)", "-printtoconsole=0",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        do {
            try waitUntilReady()
            _ = try call("createwallet", ["tok"])
            minerAddress = try call("getnewaddress", ["", "legacy"]) as! String
            let wif = try call("dumpprivkey", [minerAddress]) as! String
            minerKey = try WIF.decode(wif, chain: UTXOChains.litecoinRegtest).key
            // Coinbases of blocks 1...20 are mature once the tip is at 119 (maturity 100).
            _ = try call("generatetoaddress", [119, minerAddress])
        } catch {
            stop()
            throw error
        }
    }

    deinit { stop() }

    /// Asks the node to stop, waits up to 30 s, then kills it; removes the data directory.
    func stop() {
        guard !stopped else { return }
        stopped = true
        if process.isRunning {
            _ = try? call("stop", [])
            var waitedMilliseconds = 0
            while process.isRunning, waitedMilliseconds < 30_000 {
                usleep(100_000)
                waitedMilliseconds += 100
            }
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: dataDirectory)
    }

    /// Polls until the RPC server answers (bounded: 60 s), failing early if the daemon exits.
    private func waitUntilReady() throws {
        var waitedMilliseconds = 0
        while true {
            if (try? call("getblockcount", [])) != nil { return }
            guard process.isRunning else {
                throw RPCError(
                    code: "start",
                    message: "litecoind exited with status \(process.terminationStatus) before answering RPC")
            }
            guard waitedMilliseconds < 60_000 else {
                throw RPCError(code: "start", message: "litecoind did not answer RPC within 60 s")
            }
            usleep(200_000)
            waitedMilliseconds += 200
        }
    }

    /// One JSON-RPC 1.0 call; throws RPCError for an error answer. Parameters are JSON values
    /// (strings, integers, booleans, arrays, objects); amounts are sent as decimal strings,
    /// which Core accepts, so no Double is ever involved.
    func call(_ method: String, _ params: [Any]) throws -> Any {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/")!)
        request.httpMethod = "POST"
        request.timeoutInterval = 60
        request.setValue("text/plain", forHTTPHeaderField: "Content-Type")
        request.setValue("Basic " + Data("u:p".utf8).base64EncodedString(), forHTTPHeaderField: "Authorization")
        request.httpBody = try JSONSerialization.data(withJSONObject: [
            "jsonrpc": "1.0", "id": "tok", "method": method, "params": params,
        ])
        final class Box: @unchecked Sendable { var data: Data?; var error: Error? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, _, error in
            box.data = data
            box.error = error
            done.signal()
        }.resume()
        done.wait()
        if let error = box.error { throw error }
        guard let body = box.data, !body.isEmpty else {
            throw RPCError(code: "http", message: "\(method): empty answer")
        }
        let exact = try JSONNumberText.quotingNumbers(Array(body))
        guard
            let answer = try JSONSerialization.jsonObject(with: Data(exact), options: [.fragmentsAllowed])
                as? [String: Any]
        else {
            throw RPCError(code: "http", message: "\(method): answer is not a JSON object")
        }
        if let error = answer["error"] as? [String: Any] {
            throw RPCError(code: error["code"] as? String ?? "?", message: error["message"] as? String ?? "")
        }
        return answer["result"] ?? NSNull()
    }

    /// Binds port 0 on 127.0.0.1 to have the kernel pick a free port, then releases it for
    /// the daemon (a tiny race with other processes, acceptable for a test).
    static func freeLoopbackPort() throws -> Int {
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { throw RPCError(code: "port", message: "socket() failed") }
        defer { close(socketDescriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(socketDescriptor, generic, length) == 0 && getsockname(socketDescriptor, generic, &length) == 0
            }
        }
        guard bound else { throw RPCError(code: "port", message: "could not bind a loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
