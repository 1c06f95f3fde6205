import ArgumentParser
import TokShared

@main
struct TokFollow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tok-follow",
        abstract: "Follow a chain and emit anchored protocol messages (not implemented yet).")

    @OptionGroup var common: CommonOptions

    func run() throws {
        let code = ToolMain.report(StageFailure(.unavailable, "not implemented yet"), tool: "tok-follow")
        throw ExitCode(code.rawValue)
    }
}
