import ArgumentParser
import TokShared

struct TokSubmit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tok-submit",
        abstract: "Broadcast prepared payouts and report their outcome (not implemented yet).")

    @OptionGroup var common: CommonOptions

    func run() throws {
        let code = ToolMain.report(StageFailure(.unavailable, "not implemented yet"), tool: "tok-submit")
        throw ExitCode(code.rawValue)
    }
}

TokSubmit.main()
