#if canImport(Glibc)
import Glibc
#endif

/// Remembers canonical spellings of addresses already checked. An exchange
/// sees the same depositors again and again, and an EIP-55 check costs a
/// Keccak-256 per call; a lookup costs a hash. Bounded: a full shard is simply
/// emptied (the cache only ever saves work, it never decides anything).
/// Sharded so the threads of tok-validate rarely wait on each other.
final class AddressCache: @unchecked Sendable {
    private static let shardCount = 16
    private let entriesPerShard: Int
    private let shards: [Shard]

    private final class Shard {
        var mutex = pthread_mutex_t()
        var entries: [Key: String] = [:]
        init() { pthread_mutex_init(&mutex, nil) }
        deinit { pthread_mutex_destroy(&mutex) }
    }

    init(capacity: Int) {
        precondition(capacity >= AddressCache.shardCount)
        entriesPerShard = capacity / AddressCache.shardCount
        shards = (0..<AddressCache.shardCount).map { _ in Shard() }
    }

    /// An address with its hash, hashed once: picking the shard, the lookup and
    /// the insertion each hashed the whole text before, and every probe that
    /// met another address compared the two texts.
    private struct Key: Hashable {
        let text: String
        let hash: Int

        static func == (left: Key, right: Key) -> Bool { left.hash == right.hash && left.text == right.text }
        func hash(into hasher: inout Hasher) { hasher.combine(hash) }
    }

    func canonical(_ text: String, compute: (String) throws(TokError) -> String) throws(TokError) -> String {
        let key = Key(text: text, hash: text.hashValue)
        let shard = shards[Int(UInt(bitPattern: key.hash) % UInt(AddressCache.shardCount))]
        pthread_mutex_lock(&shard.mutex)
        let known = shard.entries[key]
        pthread_mutex_unlock(&shard.mutex)
        if let known { return known }
        let canonical = try compute(text)
        pthread_mutex_lock(&shard.mutex)
        if shard.entries.count >= entriesPerShard { shard.entries.removeAll(keepingCapacity: true) }
        shard.entries[key] = canonical
        pthread_mutex_unlock(&shard.mutex)
        return canonical
    }
}
