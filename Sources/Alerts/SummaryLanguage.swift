/// The language of an alert's `summary` in notifications and the API (`language` in the
/// config); both texts are always given as `summary_en` and `summary_vi` too.
public enum SummaryLanguage: String, Sendable, CaseIterable {
    case en, vi
}
