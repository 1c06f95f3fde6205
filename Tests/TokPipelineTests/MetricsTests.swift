import Foundation
import XCTest
@testable import TokShared

/// `--metrics-file` on every tool: Prometheus's text format, judged by Prometheus's own parser
/// (prometheus_client, from the test peers' venv), written at the end and, in long runs, while running.
final class MetricsTests: XCTestCase {
    var workspace: Workspace!

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Repo.python) else {
            throw XCTSkip("no .venv-peers: run `bash scripts/test.sh` (or scripts/setup.sh) first")
        }
        workspace = try Workspace()
        try workspace.write("tok.toml", offlineConfig(network: "rpc_retries = 1\nrpc_timeout_milliseconds = 1000"))
    }

    struct Sample: Hashable {
        var name: String
        var labels: [String: String]
        var value: String
    }

    /// The file's samples as prometheus_client's text parser reads them (it throws on anything malformed).
    func parse(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> [Sample] {
        let script = """
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            out = []
            for family in text_string_to_metric_families(open(sys.argv[1]).read()):
                assert family.type in ("counter", "gauge"), family.type
                assert family.documentation, family.name
                for s in family.samples:
                    out.append([s.name, s.labels, repr(s.value)])
            print(json.dumps(out))
            """
        try workspace.write("parse.py", script)
        let result = try workspace.run("\(Repo.python) parse.py \(name)")
        XCTAssertEqual(
            result.exitCode, 0, "prometheus_client refused \(name): \(result.stderr)", file: file, line: line)
        guard case .success(let parsed) = JSON.parse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            XCTFail("no samples from \(name): \(result.stdout)", file: file, line: line)
            return []
        }
        return parsed.arrayElements.map { element in
            let labels = element[1]!
            var map: [String: String] = [:]
            for key in labels.keys { map[key] = labels.string(at: key) }
            return Sample(name: element[0]!.stringValue!, labels: map, value: element[2]!.stringValue!)
        }
    }

    func value(_ samples: [Sample], _ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }
            .flatMap { Double($0.value) }
    }

    func testEveryStageWritesItsMetrics() throws {
        let tx = "0x" + String(repeating: "ab", count: 32)
        let input =
            [
                #"{"op":"deposit","id":"d-1","source":{"account":"0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf","network":"local","token":"ETH"},"deposit":{"tx":"\#(tx)"}}"#,
                #"{"op":"deposit","id":"d-2","source":{"account":"0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf","network":"local","token":"DOGE"},"deposit":{"tx":"\#(tx)"}}"#,
                "{not json",
                #"{"op":"status","id":"q-1"}"#,
            ].joined(separator: "\n") + "\n"
        let run = try workspace.run(
            """
            tok-validate --metrics-file validate.prom | tok-verify --metrics-file verify.prom \
              | tok-apply --db state.sqlite --metrics-file apply.prom
            """, input: input)
        XCTAssertEqual(run.exitCode, 0, run.stderr)

        let validate = try parse("validate.prom")
        XCTAssertEqual(value(validate, "tok_records_in_total", ["tool": "tok-validate", "op": "deposit"]), 2)
        XCTAssertEqual(value(validate, "tok_records_in_total", ["op": "status"]), 1)
        XCTAssertEqual(value(validate, "tok_records_in_total", ["op": "none"]), 1, "the unreadable line")
        XCTAssertEqual(value(validate, "tok_records_out_total", ["op": "deposit", "status": "validated"]), 1)
        XCTAssertEqual(value(validate, "tok_rejections_total", ["code": "unknown_token"]), 1)
        XCTAssertEqual(value(validate, "tok_rejections_total", ["code": "malformed_json"]), 1)
        XCTAssertEqual(value(validate, "tok_exit_status"), 0)
        XCTAssertNotNil(value(validate, "tok_run_duration_seconds"))
        XCTAssertGreaterThan(value(validate, "tok_run_start_time_seconds") ?? 0, 1_700_000_000)

        let verify = try parse("verify.prom")
        XCTAssertEqual(value(verify, "tok_rejections_total", ["code": "rpc_unavailable"]), 1)
        XCTAssertNil(
            value(verify, "tok_rejections_total", ["code": "unknown_token"]),
            "an earlier stage's rejection is not this one's")
        XCTAssertGreaterThanOrEqual(
            value(verify, "tok_rpc_calls_total", ["tool": "tok-verify", "network": "local"]) ?? 0, 1)
        XCTAssertGreaterThanOrEqual(value(verify, "tok_rpc_retries_total", ["network": "local"]) ?? 0, 1)
        XCTAssertGreaterThanOrEqual(
            value(verify, "tok_rpc_errors_total", ["network": "local", "kind": "transport"]) ?? 0, 1)

        let apply = try parse("apply.prom")
        XCTAssertEqual(value(apply, "tok_records_out_total", ["op": "status", "status": "answered"]), 1)
        XCTAssertEqual(value(apply, "tok_open_payouts"), 0)
        XCTAssertEqual(value(apply, "tok_oldest_open_payout_age_seconds"), 0)
        XCTAssertTrue(apply.allSatisfy { $0.labels["tool"] == "tok-apply" }, "every series names its tool")
    }

    // A long run (input held open, as behind tok-follow --follow) writes the file while it runs,
    // and counts the time it waited for the writer lock that another process held.
    func testLongRunsWriteWhileRunningAndCountLockWaits() throws {
        let script = """
            set -e
            mkfifo in.fifo
            tok-apply --db state.sqlite --metrics-file apply.prom --metrics-interval-seconds 0 < in.fifo > out.ndjson &
            apply=$!
            exec 7> in.fifo
            # Once tok-apply has the database open (its WAL file exists), another writer holds the lock a while.
            for look in $(seq 1 3000); do [ -e state.sqlite-wal ] && break; sleep 0.01; done
            ( flock state.sqlite.lock -c 'touch held; sleep 1' ) &
            for look in $(seq 1 3000); do [ -e held ] && break; sleep 0.01; done
            echo '{"op":"status","id":"q-1"}' >&7
            for look in $(seq 1 3000); do [ -s apply.prom ] && break; sleep 0.01; done
            kill -0 $apply && echo "running after its first batch"
            cp apply.prom during.prom
            exec 7>&-
            wait $apply
            """
        try workspace.write("long.sh", script)
        let result = try workspace.run("timeout 120 bash long.sh")
        XCTAssertEqual(result.exitCode, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("running after its first batch"), result.stdout + result.stderr)
        let during = try parse("during.prom")
        XCTAssertEqual(value(during, "tok_records_out_total", ["op": "status", "status": "answered"]), 1)
        XCTAssertNil(value(during, "tok_exit_status"), "no exit status before the end")
        let final = try parse("apply.prom")
        XCTAssertEqual(value(final, "tok_exit_status"), 0)
        XCTAssertEqual(value(final, "tok_lock_waits_total"), 1)
        XCTAssertGreaterThan(value(final, "tok_lock_wait_seconds_total") ?? 0, 0)
    }
}
