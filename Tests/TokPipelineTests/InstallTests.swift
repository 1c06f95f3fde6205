import Foundation
import XCTest
@testable import TokShared

/// `make install` puts the tools, man pages, completions, the example config and the service
/// examples into a prefix (PREFIX and DESTDIR honoured); `make uninstall` takes them out again.
final class InstallTests: XCTestCase {
    var workspace: Workspace!
    static let tools = ["tok-validate", "tok-verify", "tok-apply", "tok-submit", "tok-follow"]

    override func setUpWithError() throws {
        for tool in ["make", "man"] where !FileManager.default.isExecutableFile(atPath: "/usr/bin/\(tool)") {
            throw XCTSkip("\(tool) is not installed (scripts/setup.sh installs it)")
        }
        workspace = try Workspace()
    }

    func make(_ arguments: String) throws -> PipelineResult {
        try workspace.run(
            "make -C '\(Repo.root.path)' --no-print-directory BIN_DIR='\(Repo.binDirectory.path)' \(arguments)")
    }

    func files(under directory: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: directory)
        var found: [String] = []
        while let path = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: directory + "/" + path, isDirectory: &isDirectory),
                !isDirectory.boolValue
            {
                found.append(path)
            }
        }
        return found.sorted()
    }

    func testInstallIntoAPrefixThenUninstall() throws {
        let prefix = workspace.path("prefix")
        let install = try make("install PREFIX='\(prefix)'")
        XCTAssertEqual(install.exitCode, 0, install.stdout + install.stderr)
        let installed = files(under: prefix)
        for tool in InstallTests.tools {
            XCTAssertTrue(installed.contains("bin/\(tool)"), "\(tool): \(installed)")
            XCTAssertTrue(installed.contains("share/bash-completion/completions/\(tool)"))
            XCTAssertTrue(installed.contains("share/zsh/site-functions/_\(tool)"))
            XCTAssertTrue(installed.contains("share/fish/vendor_completions.d/\(tool).fish"))
            // Every --help, from the installed binaries, with no config.
            let help = try workspace.run("env -u TOK_CONFIG '\(prefix)/bin/\(tool)' --help")
            XCTAssertEqual(help.exitCode, 0, "\(tool) --help: \(help.stderr)")
            XCTAssertTrue(help.stdout.contains("USAGE: \(tool)"), help.stdout)
            let bash = try workspace.run("bash -n '\(prefix)/share/bash-completion/completions/\(tool)'")
            XCTAssertEqual(bash.exitCode, 0, "the bash completion of \(tool) parses: \(bash.stderr)")
        }
        for subcommand in ["apply", "check", "open-payouts"] {
            let help = try workspace.run("'\(prefix)/bin/tok-apply' \(subcommand) --help")
            XCTAssertEqual(help.exitCode, 0, help.stderr)
        }
        for page in [
            "share/man/man1/tok-apply.1", "share/man/man7/tok.7", "share/man/man7/tok-protocol.7",
            "share/doc/tok/tok.toml", "share/doc/tok/tok-follow@.service", "share/doc/tok/tok-reconcile.timer",
            "share/tok/pipelines/follow.sh", "share/tok/pipelines/deposit.sh", "share/tok/pipelines/reconcile.sh",
        ] {
            XCTAssertTrue(installed.contains(page), "\(page) is not installed: \(installed)")
        }
        // The man pages are found in the prefix and render.
        let man = try workspace.run("MANWIDTH=80 man -M '\(prefix)/share/man' tok-apply | col -b")
        XCTAssertEqual(man.exitCode, 0, man.stderr)
        XCTAssertTrue(
            man.stdout.contains("tok-apply") && man.stdout.contains("SYNOPSIS"), man.stdout.prefix(400) + man.stderr)
        let seven = try workspace.run("MANWIDTH=80 man -M '\(prefix)/share/man' 7 tok | col -b")
        XCTAssertTrue(seven.stdout.contains("METRICS"), seven.stderr)
        // The installed example config is the one the tests parse.
        XCTAssertNoThrow(
            try TokConfig.load(
                path: prefix + "/share/doc/tok/tok.toml", environment: ["TOK_ATTESTATION_SECRET": workspace.secret]))

        let uninstall = try make("uninstall PREFIX='\(prefix)'")
        XCTAssertEqual(uninstall.exitCode, 0, uninstall.stdout + uninstall.stderr)
        XCTAssertEqual(files(under: prefix), [], "uninstall leaves nothing of tok behind")
    }

    func testDestdirStagesUnderThePrefix() throws {
        let stage = workspace.path("stage")
        let install = try make("install DESTDIR='\(stage)' PREFIX=/opt/tok")
        XCTAssertEqual(install.exitCode, 0, install.stdout + install.stderr)
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: stage + "/opt/tok/bin/tok-apply"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/opt/tok/bin/tok-apply"), "nothing outside DESTDIR")
        let uninstall = try make("uninstall DESTDIR='\(stage)' PREFIX=/opt/tok")
        XCTAssertEqual(uninstall.exitCode, 0, uninstall.stderr)
        XCTAssertEqual(files(under: stage), [])
    }

    // The service's pipeline script ends with tok-follow's status when tok-follow fails (here: an
    // unknown network), and the stages after it end too (no hang on the pipe between them).
    func testFollowScriptEndsWithTokFollow() throws {
        try workspace.write("tok.toml", "[[tokens]]\nalias = \"ETH\"\n")
        let result = try workspace.run(
            "timeout 120 bash '\(Repo.root.path)/pipelines/follow.sh' nowhere state.sqlite out.ndjson")
        XCTAssertEqual(result.exitCode, 64, result.stderr)
        XCTAssertTrue(result.stderr.contains("network nowhere is not configured"), result.stderr)
    }
}
