#if canImport(Glibc)
import Glibc
#endif

/// Progress on standard error for long runs: records done and records per
/// second (tok-follow: height and tip). On by itself when standard error is a
/// terminal (one line, redrawn each second); `--progress` asks for it
/// elsewhere too (a line every ten seconds); `--no-progress` silences it.
public final class ProgressMeter {
    let tool: String
    let terminal: Bool
    private let intervalMilliseconds: Int
    private let startedMilliseconds = monotonicMilliseconds()
    private var lastMilliseconds = 0

    /// nil when progress is off: not asked for and standard error is no terminal, or silenced.
    public static func make(tool: String, option: Bool?) -> ProgressMeter? {
        let terminal = isatty(2) == 1
        guard option ?? terminal else { return nil }
        return ProgressMeter(tool: tool, terminal: terminal)
    }

    init(tool: String, terminal: Bool) {
        self.tool = tool
        self.terminal = terminal
        intervalMilliseconds = terminal ? 1_000 : 10_000
    }

    /// `records` done so far; `detail` is shown after the rate (e.g. "height 5012 of 5100").
    public func update(records: Int, detail: String = "", force: Bool = false) {
        let now = monotonicMilliseconds()
        guard force || now - lastMilliseconds >= intervalMilliseconds else { return }
        lastMilliseconds = now
        let elapsed = max(1, now - startedMilliseconds)
        // Integer arithmetic: records per second, rounded down.
        let rate = records * 1000 / elapsed
        var text = "\(tool): \(records) records, \(rate) records/s, \(elapsed / 1000) s"
        if !detail.isEmpty { text += ", " + detail }
        TokLogging.progress(text, redraw: terminal)
    }

    /// The run is over: the terminal line is cleared (the "done" log line follows).
    public func finish() {
        if terminal { TokLogging.progress(nil, redraw: true) }
    }
}
