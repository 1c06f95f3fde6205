import XCTest
@testable import TokShared

/// Expected values and where they come from:
/// - "EIP-155 text": the example in EIPS/eip-155.md (ethereum/EIPs), published with the EIP.
/// - "eth_account": produced by eth-account 0.14.0 (PyPI) in a throwaway venv, e.g.
///   `Account.sign_transaction(dict(...), "0x46…46")` and
///   `Account.sign_message(encode_defunct(text=...), "0x46…46")`; it signs with RFC 6979 like
///   libsecp256k1, so signatures match byte for byte.
/// - "EIP-55 text": the examples in EIPS/eip-55.md.
final class EVMSigningTests: XCTestCase {
    private func unhex(_ text: String) -> [UInt8] {
        let digits = Array((text.hasPrefix("0x") ? String(text.dropFirst(2)) : text).utf8)
        func nibble(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10 }
        return stride(from: 0, to: digits.count, by: 2).map { nibble(digits[$0]) << 4 | nibble(digits[$0 + 1]) }
    }

    private func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

    private let key46 = try! PrivateKey(hex: String(repeating: "46", count: 32))
    /// The address of key 0x46…46 (eth_account's Account.from_key(...).address).
    private let address46 = "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F"
    private let to35 = EVMAddress(bytes: [UInt8](repeating: 0x35, count: 20))!
    private let toAB = EVMAddress(bytes: [UInt8](repeating: 0xab, count: 20))!
    private let oneEtherWei = UInt256(1_000_000_000_000_000_000)
    private let groupOrder = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"

    /// n - s: the high-S twin of a signature scalar.
    private func negated(_ s: [UInt8]) -> [UInt8] {
        let n = unhex(groupOrder)
        var out = [UInt8](repeating: 0, count: 32)
        var borrow = 0
        for i in stride(from: 31, through: 0, by: -1) {
            var difference = Int(n[i]) - Int(s[i]) - borrow
            borrow = difference < 0 ? 1 : 0
            if difference < 0 { difference += 256 }
            out[i] = UInt8(difference)
        }
        return out
    }

    // MARK: Addresses

    func testAddressFromPublicKey() {
        XCTAssertEqual(EVMAddress.fromPublicKey(uncompressed65: key46.publicKey(compressed: false)), address46)
    }

    func testAddressParsingAndChecksum() throws {
        // EIP-55 text examples.
        for valid in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let address = try EVMAddress(hex: valid)
            XCTAssertEqual(address.checksummed, valid)
            XCTAssertEqual("\(address)", valid)
            XCTAssertEqual(try EVMAddress(hex: valid.lowercased()).checksummed, valid)
        }
        XCTAssertEqual(try EVMAddress(hex: "0x" + String(repeating: "35", count: 20)).bytes, to35.bytes)
        XCTAssertThrowsError(try EVMAddress(hex: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD")) { error in
            XCTAssertEqual((error as? TokError)?.code, .badChecksum)
        }
        for malformed in [
            "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea",
            "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaedzz", "0xgaaeb6053f3e94c9b9a09f33669435e7ef1beaed", "",
        ] {
            XCTAssertThrowsError(try EVMAddress(hex: malformed)) { error in
                XCTAssertEqual((error as? TokError)?.code, .badAccount, malformed)
            }
        }
        XCTAssertNil(EVMAddress(bytes: [UInt8](repeating: 0, count: 19)))
    }

    // MARK: personal_sign

    func testPersonalSignMatchesEthAccount() throws {
        let vectors: [(String, String, String)] = [
            (
                "hello tok",
                "46963dbd283131af72fbd8f4a771fc34d690fbaf176c1f69076d0767364976ae",
                "0x9f75304b5da9556c6ceed625b2d5c1ec06e848c2e6c52b5ae835f3f9a49298776b5db22b3c6ab8c995c847d3e0d991907130d7cfb88deffa8dfb3d8fc0c4f9301c"
            ),
            // The length in the prefix counts UTF-8 bytes (14 here), not characters (11).
            (
                "héllo tök ✓",
                "c249bf378e872a217537ba23138a9dac6c10e34554c660082cec1f26e2f88760",
                "0xe57e1ab8ba980caa03ad8c12dd8654170e58b992868d5f2b8d2a3a42093ffb304de6041cb8ade004a98c7acc5067b661b83b34522bb4deab6c8b150329d8115e1b"
            ),
            (
                "",
                "5f35dce98ba4fba25530a026ed80b2cecdaa31091ba4958b99b52ea1d068adad",
                "0xff65394fc6cc70eee8e5ee1160dfa355a0484ad2988b65d01aee4bf58288958f082ce5e2c2d9d49130a2b1e8d01850cc00b0f17637f029570420e5a4a8d724fd1c"
            ),
        ]
        for (message, expectedHash, expectedSignature) in vectors {
            XCTAssertEqual(hex(PersonalSign.hash(message: message)), expectedHash, message)
            XCTAssertEqual(PersonalSign.sign(message: message, key: key46), expectedSignature, message)
            XCTAssertEqual(
                try PersonalSign.recoverAddress(message: message, signatureHex: expectedSignature), address46, message)
        }
    }

    func testPersonalSignRecoverRoundTripAndVariants() throws {
        for _ in 0..<10 {
            let key = PrivateKey.generate()
            let address = EVMAddress.fromPublicKey(uncompressed65: key.publicKey(compressed: false))
            let signature = PersonalSign.sign(message: "deposit 42", key: key)
            XCTAssertEqual(signature.count, 132)
            XCTAssertEqual(try PersonalSign.recoverAddress(message: "deposit 42", signatureHex: signature), address)
            // Without 0x, and with v as 0/1 instead of 27/28.
            XCTAssertEqual(
                try PersonalSign.recoverAddress(message: "deposit 42", signatureHex: String(signature.dropFirst(2))),
                address)
            var bytes = unhex(signature)
            bytes[64] -= 27
            XCTAssertEqual(
                try PersonalSign.recoverAddress(message: "deposit 42", signatureHex: Hex.encode(bytes, prefix: true)),
                address)
            // Another message recovers some other address.
            XCTAssertNotEqual(try? PersonalSign.recoverAddress(message: "deposit 43", signatureHex: signature), address)
        }
    }

    func testPersonalSignRejectsTamperedAndMalformedSignatures() throws {
        let message = "hello tok"
        let signature = unhex(PersonalSign.sign(message: message, key: key46))
        // A flipped bit in r or s: either nothing recovers or another address does.
        for index in [0, 17, 31, 32, 50, 63] {
            var tampered = signature
            tampered[index] ^= 0x01
            XCTAssertNotEqual(
                try? PersonalSign.recoverAddress(message: message, signatureHex: Hex.encode(tampered, prefix: true)),
                address46, "byte \(index)")
        }
        // The flipped recovery id recovers a different key.
        var otherV = signature
        otherV[64] = otherV[64] == 27 ? 28 : 27
        XCTAssertNotEqual(
            try? PersonalSign.recoverAddress(message: message, signatureHex: Hex.encode(otherV, prefix: true)),
            address46)

        // EIP-2: the high-S twin (n - s, other recovery id) is the same signature mathematically but refused.
        var highS = Array(signature[0..<32]) + negated(Array(signature[32..<64])) + [signature[64] == 27 ? 28 : 27]
        XCTAssertThrowsError(
            try PersonalSign.recoverAddress(message: message, signatureHex: Hex.encode(highS, prefix: true))
        ) { error in
            XCTAssertTrue((error as? TokError)?.message.contains("EIP-2") ?? false, "\(error)")
        }
        highS[64] = 29
        let malformed: [String] = [
            Hex.encode(highS, prefix: true),  // v = 29
            Hex.encode(Array(signature.dropLast()), prefix: true),  // 64 bytes
            Hex.encode(signature + [0], prefix: true),  // 66 bytes
            "0x" + String(repeating: "zz", count: 65),  // not hex
            "0x" + String(repeating: "a", count: 129),  // odd digit count
            "",
        ]
        for text in malformed {
            XCTAssertThrowsError(try PersonalSign.recoverAddress(message: message, signatureHex: text), text)
        }
    }

    // MARK: Transactions

    /// The EIP-155 text's example: nonce 9, gas price 20 gwei, gas 21000, to 0x35…35, 1 ether, chain 1.
    private var eip155Example: EVMTransaction {
        EVMTransaction(
            kind: .legacy(gasPriceWei: UInt256(20_000_000_000)), chainId: 1, nonce: 9, gasLimit: 21000,
            to: to35, valueWei: oneEtherWei, data: [])
    }

    func testEIP155Example() throws {
        let transaction = eip155Example
        // Signing hash and signed transaction: EIP-155 text. Tx hash: eth_account.
        XCTAssertEqual(
            hex(transaction.signingHash()), "daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53")
        let signed = transaction.signed(with: key46)
        let published =
            "0xf86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a764000080"
            + "25a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276"
            + "a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83"
        XCTAssertEqual(signed.rawHex, published)
        XCTAssertEqual(signed.rawBytes, unhex(published))
        XCTAssertEqual(signed.txHash, "0x33469b22e9f636356c4160a87eb19df52b7412e8eac32a4a55ffe88ea8350788")
        XCTAssertEqual(signed.from, address46)

        let (decoded, sender) = try EVMTransaction.decode(raw: unhex(published))
        XCTAssertEqual(decoded, transaction)
        XCTAssertEqual(sender, address46)
        XCTAssertEqual(try EVMTransaction.decode(rawHex: published).sender, address46)
    }

    func testType2Transaction() throws {
        let transaction = EVMTransaction(
            kind: .eip1559(maxPriorityFeePerGasWei: UInt256(2_000_000_000), maxFeePerGasWei: UInt256(30_000_000_000)),
            chainId: 1, nonce: 9, gasLimit: 21000, to: to35, valueWei: oneEtherWei, data: [])
        // All three from eth_account.
        XCTAssertEqual(
            hex(transaction.signingHash()), "fae77debb64203fbaea6213fcde74f1b138c6854c3d7b44ba1c2ced52c2d8c4d")
        let signed = transaction.signed(with: key46)
        XCTAssertEqual(
            signed.rawHex,
            "0x02f873010984773594008506fc23ac00825208943535353535353535353535353535353535353535880de0b6b3a764000080c0"
                + "80a02b03b67e070f45175ce9d07c4512720168bd468a24edb6997977a53d48c87a12a0733d775fdd689d306e08ac8ab399f34b5a0253b47ed81b8bf2d2a6ea607fcac7"
        )
        XCTAssertEqual(signed.txHash, "0xbb94970b7e5afad02e4e38a462eacd085a96791deacaab2827d61aeb20e0778e")
        let (decoded, sender) = try EVMTransaction.decode(raw: signed.rawBytes)
        XCTAssertEqual(decoded, transaction)
        XCTAssertEqual(sender, address46)
    }

    func testERC20TransferOnLargeChainId() throws {
        // eth-tester's default chain id, above 2^32; amount 123456789 * 10^12.
        let recipient = try EVMAddress(hex: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
        let amount = try UInt256(decimal: "123456789000000000000")
        let data = ERC20Call.transfer(to: recipient, amount: amount)
        XCTAssertEqual(
            hex(data),
            "a9059cbb0000000000000000000000005aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
                + "000000000000000000000000000000000000000000000006b14e9f7e4f5a5000")
        XCTAssertEqual(
            Array(Keccak.keccak256(Array("transfer(address,uint256)".utf8)).prefix(4)), ERC20Call.transferSelector)

        let transaction = EVMTransaction(
            kind: .eip1559(maxPriorityFeePerGasWei: UInt256(1), maxFeePerGasWei: UInt256(10_000_000_000)),
            chainId: 131_277_322_940_537, nonce: 0, gasLimit: 60000, to: toAB, valueWei: .zero, data: data)
        let signed = transaction.signed(with: key46)
        // eth_account.
        XCTAssertEqual(
            signed.rawHex,
            "0x02f8b28677656233707980018502540be40082ea6094abababababababababababababababababababab80b844"
                + "a9059cbb0000000000000000000000005aaeb6053f3e94c9b9a09f33669435e7ef1beaed000000000000000000000000000000000000000000000006b14e9f7e4f5a5000"
                + "c001a037d430f9a083bce6e5befd9f2f88edf1b695c1d6decb7c6b73553d358e3a1e7ea0165faf8e1dce1452c3f7cc987a90dc70a8f2401b2ba6702ad8f4a951446b852f"
        )
        XCTAssertEqual(signed.txHash, "0x8dcb4c7461cc95b85e0d9242204fabffb7fc60bf2f8b66e62837ff9d0f2d2c2d")
        let (decoded, sender) = try EVMTransaction.decode(raw: signed.rawBytes)
        XCTAssertEqual(decoded, transaction)
        XCTAssertEqual(sender, address46)
    }

    func testLegacyOnLargeChainId() throws {
        let transaction = EVMTransaction(
            kind: .legacy(gasPriceWei: UInt256(1)), chainId: 131_277_322_940_537, nonce: 300,
            gasLimit: 21000, to: toAB, valueWei: .zero, data: [0x01, 0x02])
        let signed = transaction.signed(with: key46)
        // eth_account; v = 131277322940537 * 2 + 35 = 262554645881109 (0xeecac466e115).
        XCTAssertEqual(
            signed.rawHex,
            "0xf86982012c0182520894abababababababababababababababababababab8082010286eecac466e115"
                + "a0c1c374633f2fbc10cbbb818642a9d2f81a0b365392a427970d2e293b08de9755a01f5e40d1025aae6fad843ae10fb8bd7fedac50e0f45e3d5631a846e49338490b"
        )
        XCTAssertEqual(signed.txHash, "0x63be7bd92cb1d56901f1a722b61af278d0b6ec4dc24abb4ec4b11ac4dc902635")
        let (decoded, sender) = try EVMTransaction.decode(raw: signed.rawBytes)
        XCTAssertEqual(decoded, transaction)
        XCTAssertEqual(sender, address46)
    }

    func testEIP155VForChainIdsBeyond63Bits() throws {
        XCTAssertEqual(EVMTransaction.eip155V(chainId: 1, recoveryId: 0), [37])
        XCTAssertEqual(EVMTransaction.eip155V(chainId: 1, recoveryId: 1), [38])
        // 2 * (2^64 - 1) + 36 = 2^65 + 34 needs 9 bytes.
        XCTAssertEqual(EVMTransaction.eip155V(chainId: .max, recoveryId: 1), [0x02, 0, 0, 0, 0, 0, 0, 0, 0x22])
        for chainId: UInt64 in [0, 1, 56, 1 << 40, .max / 2, .max - 1, .max] {
            let key = PrivateKey.generate()
            let transaction = EVMTransaction(
                kind: .legacy(gasPriceWei: UInt256(7)), chainId: chainId, nonce: 1, gasLimit: 21000,
                to: to35, valueWei: UInt256(5), data: [])
            let signed = transaction.signed(with: key)
            let (decoded, sender) = try EVMTransaction.decode(raw: signed.rawBytes)
            XCTAssertEqual(decoded, transaction, "chain \(chainId)")
            XCTAssertEqual(sender, signed.from, "chain \(chainId)")
        }
    }

    func testRoundTripsWithRandomKeysAndLargeValues() throws {
        for index in 0..<20 {
            let key = PrivateKey.generate()
            let bigValue = try UInt256(
                decimal: "115792089237316195423570985008687907853269984665640564039457584007913129639935")
            let kind: EVMTransaction.Kind =
                index % 2 == 0
                ? .legacy(gasPriceWei: bigValue)
                : .eip1559(maxPriorityFeePerGasWei: .zero, maxFeePerGasWei: bigValue)
            let transaction = EVMTransaction(
                kind: kind, chainId: UInt64(index + 1), nonce: UInt64.max - UInt64(index),
                gasLimit: UInt64(index) * 1000, to: toAB, valueWei: bigValue,
                data: [UInt8](repeating: UInt8(index), count: index * 7))
            let signed = transaction.signed(with: key)
            XCTAssertEqual(signed.from, EVMAddress.fromPublicKey(uncompressed65: key.publicKey(compressed: false)))
            let (decoded, sender) = try EVMTransaction.decode(rawHex: signed.rawHex)
            XCTAssertEqual(decoded, transaction)
            XCTAssertEqual(sender, signed.from)
        }
    }

    func testDecodeRejectsTamperedTransactions() throws {
        let signed = eip155Example.signed(with: key46)
        // Changing a field changes the signing hash: another sender, or no valid signature at all.
        var otherNonce = signed.rawBytes
        otherNonce[3] = 0x08  // nonce 9 -> 8
        XCTAssertNotEqual(try? EVMTransaction.decode(raw: otherNonce).sender, address46)
        for index in [signed.rawBytes.count - 1, signed.rawBytes.count - 40] {
            var tampered = signed.rawBytes
            tampered[index] ^= 0x01
            XCTAssertNotEqual(try? EVMTransaction.decode(raw: tampered).sender, address46, "byte \(index)")
        }
    }

    func testDecodeRejectsUnsupportedAndMalformedTransactions() throws {
        let legacy = try RLP.decode(eip155Example.signed(with: key46).rawBytes).listValue(field: "t")
        func legacyWith(_ index: Int, _ item: RLPItem) -> [UInt8] {
            var fields = legacy
            fields[index] = item
            return RLP.encode(.list(fields))
        }
        let type2Signed = EVMTransaction(
            kind: .eip1559(maxPriorityFeePerGasWei: UInt256(1), maxFeePerGasWei: UInt256(2)),
            chainId: 1, nonce: 0, gasLimit: 21000, to: to35, valueWei: .zero, data: []
        ).signed(with: key46)
        let type2 = try RLP.decode(type2Signed.rawBytes.dropFirst()).listValue(field: "t")
        func type2With(_ index: Int, _ item: RLPItem) -> [UInt8] {
            var fields = type2
            fields[index] = item
            return [0x02] + RLP.encode(.list(fields))
        }
        let highSType2: [UInt8] = {
            var fields = type2
            let s = try! fields[11].bytesValue(field: "s")
            let parity = try! fields[9].uint64Value(field: "y")
            fields[9] = .uint(1 - parity)
            fields[11] = .bytes(negated([UInt8](repeating: 0, count: 32 - s.count) + s))
            return [0x02] + RLP.encode(.list(fields))
        }()
        let cases: [([UInt8], String)] = [
            ([], "empty"),
            (legacyWith(6, .uint(27 as UInt64)), "pre-EIP-155 v"),
            (legacyWith(6, .uint(30 as UInt64)), "v between 28 and 35"),
            (legacyWith(3, .bytes([])), "contract creation"),
            (legacyWith(3, .bytes([UInt8](repeating: 0x35, count: 19))), "19-byte to"),
            (legacyWith(0, .bytes([0x00, 0x09])), "non-canonical nonce"),
            (legacyWith(7, .bytes([])), "zero r"),
            (RLP.encode(.list(Array(legacy.prefix(8)))), "8 fields"),
            (eip155Example.signed(with: key46).rawBytes + [0x00], "trailing byte"),
            ([0x01] + RLP.encode(.list([])), "type 1"),
            ([0x03] + RLP.encode(.list([])), "type 3"),
            ([0x80], "not a list"),
            (type2With(8, .list([.list([.bytes(to35.bytes), .list([])])])), "non-empty access list"),
            (type2With(9, .uint(2 as UInt64)), "yParity 2"),
            (highSType2, "high S (EIP-2)"),
        ]
        for (raw, why) in cases {
            XCTAssertThrowsError(try EVMTransaction.decode(raw: raw), why)
        }
        XCTAssertThrowsError(try EVMTransaction.decode(rawHex: "0xzz"))
        // The unmodified encodings decode, so the rejections above are about the change made.
        XCTAssertNoThrow(try EVMTransaction.decode(raw: RLP.encode(.list(legacy))))
        XCTAssertNoThrow(try EVMTransaction.decode(raw: [0x02] + RLP.encode(.list(type2))))
    }
}
