import XCTest
@testable import TokShared

final class AttestationTests: XCTestCase {
    static let secret = Array("attestation-test-secret-0123456789abcdef".utf8)
    static let attestor = Attestor(settings: .init(keyId: "k1", secret: secret))

    static let recordText = """
        {"op":"deposit","id":"d-1","status":"verified",\
        "validated":{"network":"eip155:1337","account":"eip155:1337:0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf",\
        "token":"ETH","asset":"eip155:1337/slip44:60","tx":"0xabababababababababababababababababababababababababababababababab"},\
        "verified":{"amount":"1000","confirmations":3,"block_number":12,"ok":true,"note":null,\
        "list":[1,"two",{"b":1,"a":2}],"text":"quote\\" back\\\\ tab\\t"}}
        """

    static func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> JSON {
        StageRunnerTests.record(text, file: file, line: line)
    }

    static func attested(_ text: String = recordText) -> JSON {
        let record = parse(text)
        attestor.attest(record, stage: .verify)
        return record
    }

    func assertInvalid(
        _ record: JSON, stage: StageName = .verify, attestor: Attestor = AttestationTests.attestor,
        _ context: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        assertTokError(
            .attestationInvalid, { () throws(TokError) in try attestor.check(record, stage: stage) }, context,
            file: file, line: line)
    }

    // An attested record checks, and checking leaves it exactly as it was.
    func testAttestThenCheckPasses() throws {
        let record = AttestationTests.attested()
        let attestation = try XCTUnwrap(record["attestation"])
        XCTAssertEqual(attestation.string(at: "stage"), "verify")
        XCTAssertEqual(attestation.string(at: "key_id"), "k1")
        XCTAssertEqual(attestation.string(at: "mac")?.count, 64)
        let before = record.serialized(sortKeys: true)
        XCTAssertNoThrow(try AttestationTests.attestor.check(record, stage: .verify))
        XCTAssertEqual(record.serialized(sortKeys: true), before)
        XCTAssertNoThrow(try AttestationTests.attestor.check(record, stage: .verify), "a second check passes too")
    }

    // The attestation survives the trip through an output line and back.
    func testAttestationSurvivesWriteAndReparse() {
        let record = AttestationTests.attested()
        var line: [UInt8] = []
        record.writeRecord(into: &line)
        let reread = AttestationTests.parse(String(decoding: line, as: UTF8.self))
        XCTAssertNoThrow(try AttestationTests.attestor.check(reread, stage: .verify))
    }

    // Attesting again replaces the old attestation rather than signing over it.
    func testReattestReplacesAttestation() throws {
        let record = AttestationTests.attested()
        let first = record["attestation"]?.string(at: "mac")
        AttestationTests.attestor.attest(record, stage: .verify)
        XCTAssertEqual(record["attestation"]?.string(at: "mac"), first)
        XCTAssertNoThrow(try AttestationTests.attestor.check(record, stage: .verify))
    }

    // Any change to the record after attesting — top-level, nested, numbers, added or removed fields — is caught.
    func testAnyChangeInvalidates() {
        let edits: [(String, (JSON) -> Void)] = [
            ("top-level string", { $0.set("id", string: "d-2") }),
            ("status", { $0.set("status", string: "validated") }),
            ("nested string", { $0["validated"]!.set("tx", string: "0x" + String(repeating: "cd", count: 32)) }),
            (
                "nested account",
                { $0["validated"]!.set("account", string: "eip155:1337:0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF") }
            ),
            ("number", { $0["verified"]!.set("confirmations", integer: 4) }),
            ("amount", { $0["verified"]!.set("amount", string: "1001") }),
            ("bool", { $0["verified"]!.set("ok", bool: false) }),
            ("null to value", { $0["verified"]!.set("note", string: "") }),
            ("array element", { $0["verified"]!["list"]!.append(.integer(3)) }),
            ("deep object", { $0["verified"]!["list"]![2]!.set("a", integer: 3) }),
            ("added top-level field", { $0.set("extra", .null()) }),
            ("added nested field", { $0["validated"]!.set("memo", string: "x") }),
            ("removed top-level field", { $0.remove("op") }),
            ("removed nested field", { $0["verified"]!.remove("block_number") }),
        ]
        for (name, edit) in edits {
            let record = AttestationTests.attested()
            edit(record)
            assertInvalid(record, "after editing \(name)")
        }
    }

    // Editing the serialised line (a spool file) is caught too.
    func testEditedLineInvalidates() {
        var line: [UInt8] = []
        AttestationTests.attested().writeRecord(into: &line)
        let text = String(decoding: line, as: UTF8.self)
        for (from, to) in [
            ("\"1000\"", "\"9000\""), ("\"confirmations\":3", "\"confirmations\":30"), ("\"d-1\"", "\"d-9\""),
        ] {
            XCTAssertTrue(text.contains(from))
            assertInvalid(
                AttestationTests.parse(text.replacingOccurrences(of: from, with: to)), "after editing \(from)")
        }
    }

    // A record without an attestation (or with a non-object one) is attestation_missing.
    func testMissingAttestation() {
        let record = AttestationTests.parse(AttestationTests.recordText)
        assertTokError(
            .attestationMissing, { () throws(TokError) in try AttestationTests.attestor.check(record, stage: .verify) })
        let wrongShape = AttestationTests.attested()
        wrongShape.set("attestation", string: "mac")
        assertTokError(
            .attestationMissing,
            { () throws(TokError) in try AttestationTests.attestor.check(wrongShape, stage: .verify) })
    }

    // An attestation by another stage does not pass as this stage's, either way round.
    func testWrongStage() {
        let record = AttestationTests.attested()
        assertInvalid(record, stage: .submit, "checked as submit")
        assertInvalid(record, stage: .apply, "checked as apply")
        // Relabelling the stage in the record does not help: the stage is inside the MAC input.
        let relabelled = AttestationTests.attested()
        relabelled["attestation"]!.set("stage", string: "submit")
        assertInvalid(relabelled, stage: .submit, "relabelled to submit")
    }

    // A different key id, or the same key id with another secret, is refused.
    func testWrongKey() {
        let record = AttestationTests.attested()
        let otherId = Attestor(settings: .init(keyId: "k2", secret: AttestationTests.secret))
        assertInvalid(record, attestor: otherId, "other key id")
        let relabelled = AttestationTests.attested()
        relabelled["attestation"]!.set("key_id", string: "k2")
        assertInvalid(relabelled, attestor: otherId, "relabelled key id")
        let otherSecret = Attestor(
            settings: .init(keyId: "k1", secret: Array("another-secret-of-enough-length-0123456789".utf8)))
        assertInvalid(record, attestor: otherSecret, "other secret")
    }

    // A mac that is not 32 bytes of hex is refused.
    func testMalformedMac() {
        for mac in [
            "", "zz", String(repeating: "a", count: 62), String(repeating: "a", count: 66),
            String(repeating: "g", count: 64),
        ] {
            let record = AttestationTests.attested()
            record["attestation"]!.set("mac", string: mac)
            assertInvalid(record, "mac \(mac)")
        }
        let missing = AttestationTests.attested()
        missing["attestation"]!.remove("mac")
        assertInvalid(missing, "no mac")
    }

    // The canonical form ignores the key order of the input text: an attestation moved onto
    // the same record written with its keys (top-level and nested) in another order still checks.
    func testCanonicalFormIndependentOfKeyOrder() throws {
        let reordered = """
            {"verified":{"text":"quote\\" back\\\\ tab\\t","list":[1,"two",{"a":2,"b":1}],"note":null,"ok":true,\
            "block_number":12,"confirmations":3,"amount":"1000"},"status":"verified",\
            "validated":{"tx":"0xabababababababababababababababababababababababababababababababab","asset":"eip155:1337/slip44:60",\
            "token":"ETH","account":"eip155:1337:0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf","network":"eip155:1337"},\
            "id":"d-1","op":"deposit"}
            """
        let original = AttestationTests.attested()
        let other = AttestationTests.parse(reordered)
        XCTAssertNotEqual(other.serialized(), original.serialized())
        other.set("attestation", try XCTUnwrap(original["attestation"]).deepCopy())
        XCTAssertNoThrow(try AttestationTests.attestor.check(other, stage: .verify))
        // Array order, in contrast, is content.
        let swapped = AttestationTests.parse(reordered.replacingOccurrences(of: "[1,\"two\"", with: "[\"two\",1"))
        swapped.set("attestation", try XCTUnwrap(original["attestation"]).deepCopy())
        assertInvalid(swapped, "array elements swapped")
    }

    // The MAC for a fixed record and secret matches an independent computation.
    func testKnownMac() {
        // Produced with Python 3 (hmac, hashlib, json):
        //   canonical = json.dumps(record, sort_keys=True, separators=(",", ":"))
        //   hmac.new(b"attestation-test-secret-0123456789abcdef",
        //            b"tok-attest-v1\nverify\nk1\n" + canonical.encode(), hashlib.sha256).hexdigest()
        // where `record` is recordText as a Python dict.
        let record = AttestationTests.attested()
        XCTAssertEqual(
            record["attestation"]?.string(at: "mac"), "67e2c929819da8881f61d0b3cafde8666f5bb0735c891b185df6b917e26c3ef2"
        )
        // The canonical text Python produced, for a readable failure if the form itself drifts.
        record.remove("attestation")
        XCTAssertEqual(
            record.serialized(sortKeys: true),
            """
            {"id":"d-1","op":"deposit","status":"verified","validated":{"account":"eip155:1337:0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf",\
            "asset":"eip155:1337/slip44:60","network":"eip155:1337","token":"ETH",\
            "tx":"0xabababababababababababababababababababababababababababababababab"},\
            "verified":{"amount":"1000","block_number":12,"confirmations":3,"list":[1,"two",{"a":2,"b":1}],\
            "note":null,"ok":true,"text":"quote\\" back\\\\ tab\\t"}}
            """)
    }
}
