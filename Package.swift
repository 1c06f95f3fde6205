// swift-tools-version:6.0
// tok: a cross-chain token engine as a set of Unix filters.
// Dependencies are few on purpose: every one is rebuilt on each CI run.
import PackageDescription

let executableNames = ["tok-validate", "tok-verify", "tok-apply", "tok-submit", "tok-follow"]

let package = Package(
    name: "tok",
    platforms: [.macOS(.v13)],
    products: executableNames.map { .executable(name: $0, targets: [$0]) }
        + [.library(name: "TokShared", targets: ["TokShared"])],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
    ],
    targets: [
        // System C libraries, found in /usr/include on Debian (see scripts/setup.sh).
        .systemLibrary(name: "CJansson", pkgConfig: "jansson"),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3"),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq"),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto"),
        .systemLibrary(name: "CSecp256k1", pkgConfig: "libsecp256k1"),
        .target(
            name: "TokShared",
            dependencies: [
                "CJansson", "CSQLite", "CLibPQ", "COpenSSL", "CSecp256k1",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ] + executableNames.map { name in
        .executableTarget(
            name: name,
            dependencies: [
                "TokShared",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)]
        )
    } + [
        // What both test targets share: the PostgreSQL test server, the engines.
        .target(
            name: "TokTestSupport",
            dependencies: ["TokShared", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TokTestSupport",
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .testTarget(
            name: "TokSharedTests",
            dependencies: ["TokShared", "TokTestSupport"],
            // Golden vectors, read from the source tree by path (not bundled as resources).
            exclude: ["Fixtures"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // Depends on the executables so `swift test` builds them before running pipelines.
        .testTarget(
            name: "TokPipelineTests",
            dependencies: ["TokShared", "TokTestSupport"] + executableNames.map { .target(name: $0) },
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
    ]
)
