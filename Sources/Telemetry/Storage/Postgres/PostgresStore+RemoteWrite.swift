/// Federation's progress in the shared store (`remote_write_state`): whichever collector sends
/// a target's buckets goes on from where the last one stopped.
extension PostgresStore {
    /// How far federation to `target` has sent (`remote_write_state`); nil: not yet.
    public func remoteWriteWatermark(_ target: String) throws -> EpochMillis? {
        try query { c in
            try c.execute("SELECT watermark FROM remote_write_state WHERE target = $1", [.text(target)]).first?.first?.flatMap { EpochMillis($0) }
        }
    }

    /// Records that federation to `target` has sent up to `t` (never moved back: two senders
    /// around a handover keep the further one).
    public func setRemoteWriteWatermark(_ target: String, _ t: EpochMillis) throws {
        _ = try query { c in
            try c.execute("""
                INSERT INTO remote_write_state (target, watermark) VALUES ($1, $2)
                ON CONFLICT (target) DO UPDATE SET watermark = GREATEST(remote_write_state.watermark, EXCLUDED.watermark)
                """, [.text(target), .int(t)])
        }
    }
}
