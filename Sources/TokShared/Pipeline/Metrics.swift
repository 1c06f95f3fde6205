#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Every metric tok writes to `--metrics-file`: its name, kind and help
/// text. The file is Prometheus's text exposition format, written whole and
/// renamed into place, for node_exporter's textfile collector.
public enum Metric: String, CaseIterable, Sendable {
    case recordsIn = "tok_records_in_total"
    case recordsOut = "tok_records_out_total"
    case rejections = "tok_rejections_total"
    case runStart = "tok_run_start_time_seconds"
    case runDuration = "tok_run_duration_seconds"
    case exitStatus = "tok_exit_status"
    case rpcCalls = "tok_rpc_calls_total"
    case rpcErrors = "tok_rpc_errors_total"
    case rpcRetries = "tok_rpc_retries_total"
    case openPayouts = "tok_open_payouts"
    case oldestOpenPayoutAge = "tok_oldest_open_payout_age_seconds"
    case lockWaits = "tok_lock_waits_total"
    case lockWaitSeconds = "tok_lock_wait_seconds_total"
    case followHeight = "tok_follow_height"
    case followTip = "tok_follow_tip"
    case followBlocks = "tok_follow_blocks_total"

    var isCounter: Bool { rawValue.hasSuffix("_total") }

    var help: String {
        switch self {
        case .recordsIn: return "Records read, by op."
        case .recordsOut: return "Records written, by op and status."
        case .rejections: return "Records this stage rejected, by error code (a transfer's payout_error included)."
        case .runStart: return "When this run started, in Unix seconds."
        case .runDuration: return "How long this run has taken, in seconds."
        case .exitStatus: return "The run's exit status (written at its end)."
        case .rpcCalls: return "JSON-RPC calls sent, by network and method."
        case .rpcErrors:
            return
                "JSON-RPC failures, by network and kind (transport: no answer after the retries; answer: an error answer to a call)."
        case .rpcRetries: return "JSON-RPC requests sent again after a transport failure, by network."
        case .openPayouts: return "Payouts between prepare and commit or rollback."
        case .oldestOpenPayoutAge: return "Seconds since the oldest open payout was prepared (0 when none is open)."
        case .lockWaits: return "Times tok-apply waited for the database's writer lock."
        case .lockWaitSeconds: return "Seconds tok-apply spent waiting for the writer lock."
        case .followHeight: return "The last block tok-follow wrote, by network."
        case .followTip: return "The node's tip as tok-follow last saw it, by network."
        case .followBlocks: return "Blocks tok-follow wrote, by network and kind (connected, disconnected)."
        }
    }
}

/// The process's metrics: counters and gauges by metric and labels, safe to
/// update from any thread (RPC tasks count their calls). Values are integers;
/// seconds are kept in milliseconds and written with three decimals.
public final class MetricsRegistry: @unchecked Sendable {
    public static let shared = MetricsRegistry()

    struct Key: Hashable {
        var metric: Metric
        var labels: [String]  // name, value, name, value, …
    }

    private let lock = PosixMutex()
    private var values: [Key: Int64] = [:]
    /// Every sample carries `tool`: node_exporter refuses a series that two files both hold.
    private var tool = ""
    private let milliseconds: Set<Metric> = [.runStart, .runDuration, .oldestOpenPayoutAge, .lockWaitSeconds]

    public func add(_ metric: Metric, _ labels: [(String, String)] = [], _ amount: Int64 = 1) {
        let key = Key(metric: metric, labels: labels.flatMap { [$0.0, $0.1] })
        lock.withLock { values[key, default: 0] += amount }
    }

    public func set(_ metric: Metric, _ labels: [(String, String)] = [], _ value: Int64) {
        let key = Key(metric: metric, labels: labels.flatMap { [$0.0, $0.1] })
        lock.withLock { values[key] = value }
    }

    /// The run's tallies, as counters (replacing what an earlier write put there).
    public func record(_ summary: RunSummary, tool: String) {
        lock.withLock {
            for metric in [Metric.recordsIn, .recordsOut, .rejections] {
                values = values.filter { $0.key.metric != metric }
            }
            for (op, count) in summary.inputsByOp {
                values[Key(metric: .recordsIn, labels: ["tool", tool, "op", op])] = Int64(count)
            }
            for (key, count) in summary.outputsByOpAndStatus {
                values[Key(metric: .recordsOut, labels: ["tool", tool, "op", key.op, "status", key.status])] = Int64(
                    count)
            }
            for (code, count) in summary.rejectionsByCode {
                values[Key(metric: .rejections, labels: ["tool", tool, "code", code])] = Int64(count)
            }
        }
    }

    func setTool(_ name: String) { lock.withLock { tool = name } }

    /// The text exposition format: HELP and TYPE per metric, samples sorted.
    public func render() -> String {
        let (snapshot, tool) = lock.withLock { (values, self.tool) }
        var text = ""
        for metric in Metric.allCases {
            let samples = snapshot.filter { $0.key.metric == metric }.sorted {
                $0.key.labels.lexicographicallyPrecedes($1.key.labels)
            }
            if samples.isEmpty { continue }
            text +=
                "# HELP \(metric.rawValue) \(metric.help)\n# TYPE \(metric.rawValue) \(metric.isCounter ? "counter" : "gauge")\n"
            for (key, value) in samples {
                text += metric.rawValue
                var labels = key.labels
                if !tool.isEmpty && labels.first != "tool" { labels = ["tool", tool] + labels }
                if !labels.isEmpty {
                    let pairs = stride(from: 0, to: labels.count, by: 2).map {
                        "\(labels[$0])=\"\(MetricsRegistry.escape(labels[$0 + 1]))\""
                    }
                    text += "{" + pairs.joined(separator: ",") + "}"
                }
                text +=
                    " " + (milliseconds.contains(metric) ? MetricsRegistry.seconds(milliseconds: value) : String(value))
                    + "\n"
            }
        }
        return text
    }

    /// Writes the file whole: a temporary file beside it, then rename, so a
    /// collector never reads half of it.
    public func write(to path: String) throws {
        let temporary = path + ".tmp.\(getpid())"
        let bytes = Array(render().utf8)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw POSIXFailure(operation: "open \(temporary)", code: errno) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes {
                Glibc.write(descriptor, $0.baseAddress! + offset, bytes.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                let code = errno
                close(descriptor)
                unlink(temporary)
                throw POSIXFailure(operation: "write \(temporary)", code: code)
            }
            offset += written
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw POSIXFailure(operation: "rename \(temporary) to \(path)", code: code)
        }
    }

    static func escape(_ value: String) -> String {
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    static func seconds(milliseconds: Int64) -> String {
        let sign = milliseconds < 0 ? "-" : ""
        let magnitude = milliseconds.magnitude
        let fraction = String(magnitude % 1000)
        return "\(sign)\(magnitude / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }
}

/// A stage with gauges of its own (tok-apply: the open payouts in its ledger),
/// read each time the metrics file is written.
public protocol MetricsSource: AnyObject {
    func collectMetrics(tool: String)
}

/// `--metrics-file` for one run: what it writes and when. Long runs (a
/// pipeline fed by `tok-follow --follow`) write every interval, between
/// batches; every run writes at its end, with its exit status.
public final class MetricsFile {
    let path: String
    let tool: String
    let intervalMilliseconds: Int
    private let startedMonotonic = monotonicMilliseconds()
    private var lastWrite = monotonicMilliseconds()
    /// Gauges only the stage can read (open payouts: tok-apply's ledger).
    public var collect: (() -> Void)?

    public init(path: String, tool: String, intervalSeconds: Int) {
        self.path = path
        self.tool = tool
        self.intervalMilliseconds = intervalSeconds * 1000
        MetricsRegistry.shared.setTool(tool)
        MetricsRegistry.shared.set(.runStart, [("tool", tool)], Ledger.nowMilliseconds())
    }

    /// Between batches: writes when the interval has passed (a failure to write is logged, not fatal).
    public func tick(_ summary: RunSummary, logger: Logger) {
        guard monotonicMilliseconds() - lastWrite >= intervalMilliseconds else { return }
        write(summary, exit: nil, logger: logger)
    }

    public func write(_ summary: RunSummary?, exit: SysExit?, logger: Logger) {
        let registry = MetricsRegistry.shared
        if let summary { registry.record(summary, tool: tool) }
        collect?()
        registry.set(.runDuration, [("tool", tool)], Int64(monotonicMilliseconds() - startedMonotonic))
        if let exit { registry.set(.exitStatus, [("tool", tool)], Int64(exit.rawValue)) }
        do { try registry.write(to: path) } catch {
            logger.warning("metrics file not written", metadata: ["file": "\(path)", "error": "\(error)"])
        }
        lastWrite = monotonicMilliseconds()
    }
}
