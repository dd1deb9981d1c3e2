import Alerts
import Telemetry

/// The alert stage over a shared store (PostgreSQL): who judges which readings, the alerts
/// adopted and let go with the partition's and the province's leases, the changes kept while
/// the store does not answer, and the province's holder's rounds of zone, unit and junction
/// maxima, DMAs and transformers (`SharedScopes`).
extension AlertStage {

    /// Whether readings of `sensor` are judged by the rules here (see `rulesActive`; the
    /// province-wide scopes' by the province's holder).
    func evaluates(_ sensor: String) -> Bool {
        guard sharedAlerts else { return true }
        // (Not before the stored alerts are adopted: those live already would be raised again.)
        if sharedScopes != nil && DerivedScope.isProvinceWide(sensor) { return heldProvince && !provinceAdoptionPending }
        return rulesActive && !adoptionPending
    }

    /// Time-driven evaluation resumes after a pause (a standby took over its partition). With
    /// a shared alert store, the partition's live alerts are adopted from it, as the old
    /// holder left them: not announced again, and resolved here when they clear.
    func resumed(now: EpochMillis) {
        engine.restartSilences(at: now)
        if sharedAlerts {
            rulesActive = true
            adoptStored()
        }
    }

    /// Time-driven evaluation stops (the partition's lease is lost). Over a shared alert
    /// store the engine lets the partition's live alerts go, unannounced: the new holder
    /// answers for them, and they are adopted afresh if this collector takes the partition back.
    func paused() {
        guard sharedAlerts else { return }
        rulesActive = false
        engine.adopt([], replacing: partitionOwns)
        adoptionPending = false
    }

    /// The alerts the partition's holder answers for (with province-wide scopes apart, not those).
    var partitionOwns: (Alert) -> Bool {
        sharedScopes == nil ? { _ in true } : { !DerivedScope.isProvinceWide($0.subject) }
    }

    /// Stores the changes it refused before, then takes the store's live alerts (this
    /// collector's `owner`'s) as the engine's; tried again once a second until it succeeds.
    func adoptStored() {
        let first = !adoptionPending
        adoptionPending = true
        guard storeUnstored() else { return }
        do {
            let alerts = try store.live()
            engine.adopt(alerts, replacing: partitionOwns)
            adoptionPending = false
            logger.info("live alerts taken from the store", metadata: ["alerts": "\(alerts.count)"])
        } catch {
            if first {
                logger.warning("cannot read the live alerts from the store; trying again every second", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Stores what the store refused before; false while it still refuses.
    func storeUnstored() -> Bool {
        guard !unstored.isEmpty else { return true }
        do {
            _ = try unstoredFence.map { try store.apply(unstored, now: engineNow, fence: $0) } ?? store.apply(unstored, now: engineNow)
            logger.notice("alert changes stored once the store answered again", metadata: ["changes": "\(unstored.count)"])
            unstored = []
            return true
        } catch let e as PartitionFence.Stale {
            // Decided under a lease another collector holds now: its alerts are that one's.
            logger.warning("the alert changes that waited for the store are dropped: a newer holder has written",
                           metadata: ["changes": "\(unstored.count)", "error": "\(e)"])
            unstored = []
            return true
        } catch let e as AlertFence.NotHolder {
            logger.warning("the alert changes that waited for the store are dropped: the lease was not held",
                           metadata: ["changes": "\(unstored.count)", "error": "\(e)"])
            unstored = []
            return true
        } catch let e as PostgresConnection.Failure where !e.lostConnection {
            logger.error("the store refuses the alert changes that waited for it; they are dropped",
                         metadata: ["changes": "\(unstored.count)", "error": "\(e)"])
            unstored = []
            return true
        } catch {
            return false
        }
    }


    /// The province lease's duties over a shared store: on taking it, the province-wide
    /// scopes' live alerts are adopted (on losing it, let go, unannounced); while holding it,
    /// every `scopeIntervalMillis` the scopes whose members changed are recomputed from the
    /// store and corrected where they differ (the corrections go out with `takeCorrections`).
    func province(holds: Bool, scopes: SharedScopes, now: EpochMillis) {
        if holds != heldProvince {
            heldProvince = holds
            provinceAdoptionPending = holds
            // Another holder may have changed the members meanwhile (and cleared its notes).
            derived.resetProvinceValues()
            if !holds { engine.adopt([], replacing: { DerivedScope.isProvinceWide($0.subject) }) }
        }
        guard holds, lastScopes == .min || now - lastScopes >= Self.scopeIntervalMillis else { return }
        lastScopes = now
        if provinceAdoptionPending, storeUnstored() {
            do {
                let alerts = try store.provinceLive()
                engine.adopt(alerts, replacing: { DerivedScope.isProvinceWide($0.subject) })
                provinceAdoptionPending = false
                logger.info("the province's live alerts taken from the store", metadata: ["alerts": "\(alerts.count)"])
            } catch {
                logger.warning("cannot read the province's live alerts from the store; trying again", metadata: ["error": "\(error)"])
            }
        }
        // (Not before the alerts are adopted: a scope's change would raise one of them again.)
        guard !provinceAdoptionPending else { return }
        // Stored with the province lease's token, in one transaction with the clearing of the
        // changes they answer: a holder that lost the lease stores and clears nothing, and
        // each round starts from what the last one stored.
        guard let fence = provinceFence?() else { return }
        do {
            let started = ContinuousClock.now
            let changes = try scopes.changes()
            guard !changes.isEmpty, let corrections = derived.recomputeScopes(changed: changes.map { ($0.name, $0.from) },
                                                                            history: scopes.history, now: now) else { return }
            let computed = ContinuousClock.now
            try scopes.store(corrections, clearing: changes, fence: fence)
            scopeCorrections += corrections
            // The round holds up this worker's live readings: a long one is worth knowing of.
            let took = ContinuousClock.now - started
            if took > .seconds(1) {
                logger.notice("a long round of the province's scopes", metadata: [
                    "seconds": "\(took.inSeconds)", "storing_seconds": "\((ContinuousClock.now - computed).inSeconds)",
                    "changed_series": "\(changes.count)", "corrected_series": "\(corrections.count)"])
            }
        } catch let e as PartitionFence.Stale {
            logger.warning("province lease lost: its scopes are left to the new holder", metadata: ["error": "\(e)"])
        } catch {
            logger.warning("cannot recompute the scopes from the shared store; trying again", metadata: ["error": "\(error)"])
        }
    }

    /// The collector stops: the province's holder handles the scope changes noted since its
    /// last round now, rather than leave them to the next holder.
    func lastScopeRound(now: EpochMillis) {
        guard let sharedScopes, heldProvince else { return }
        lastScopes = .min
        province(holds: true, scopes: sharedScopes, now: now)
    }

    /// At most `maxUnstored` changes wait; the oldest go.
    func trimUnstored() {
        guard unstored.count > Self.maxUnstored else { return }
        logger.error("too many alert changes wait for the store; the oldest are dropped",
                     metadata: ["dropped": "\(unstored.count - Self.maxUnstored)"])
        unstored.removeFirst(unstored.count - Self.maxUnstored)
    }
}

/// Earlier changes still wait for the store.
struct StoreStillRefuses: Error {}
