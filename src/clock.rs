//! Time: the clock validation reads, and the rules for `exp`, `nbf` and
//! `iat` with a leeway. A leaf module: it imports nothing from the crate.

use std::time::{SystemTime, UNIX_EPOCH};

#[cfg(any(test, feature = "testing"))]
use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

/// The time source for `exp`/`nbf`/`iat` checks, cool-downs and stale ages.
///
/// [`Clock::System`] in production; with the `testing` feature,
/// `Clock::Manual` for tests that need to step time exactly (expiry at the
/// leeway edge, a cool-down's end).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A clock that only moves when told to (feature `testing`).
    #[cfg(any(test, feature = "testing"))]
    Manual(ManualClock),
}

impl Clock {
    /// Now, in seconds since the Unix epoch.
    #[inline]
    pub fn now(&self) -> i64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            #[cfg(any(test, feature = "testing"))]
            Clock::Manual(m) => m.now(),
        }
    }

    /// Monotonic milliseconds, for intervals (cool-downs, staleness,
    /// pending tenants, renewals): the process's monotonic clock, or the
    /// manual clock's monotonic reading (which only moves forward: a step
    /// back of the manual clock is a step back of the wall clock).
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) fn mono_ms(&self) -> u64 {
        match self {
            Clock::System => {
                static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
                let elapsed = START.get_or_init(std::time::Instant::now).elapsed();
                u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
            }
            #[cfg(any(test, feature = "testing"))]
            Clock::Manual(m) => u64::try_from(m.monotonic())
                .unwrap_or(0)
                .saturating_mul(1000),
        }
    }
}

/// A settable clock for tests (feature `testing`); clones share the same
/// time.
///
/// It is a wall clock that can step back (as NTP or a resumed VM make the
/// system clock do), with the monotonic time beside it that intervals are
/// timed by: moving the clock forward moves both, moving it back moves the
/// wall clock only.
///
/// ```
/// use bearer_guard::testing::ManualClock;
/// let clock = ManualClock::new(1_000);
/// clock.advance(60);
/// assert_eq!(clock.now(), 1_060);
/// clock.advance(-3_600); // the wall clock steps back an hour
/// assert_eq!(clock.now(), -2_540);
/// ```
#[cfg(any(test, feature = "testing"))]
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<ManualTime>);

#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default)]
struct ManualTime {
    wall: AtomicI64,
    /// Seconds, only ever moving forward.
    monotonic: AtomicI64,
}

#[cfg(any(test, feature = "testing"))]
impl ManualClock {
    /// A clock reading `now` (seconds since the Unix epoch).
    pub fn new(now: i64) -> Self {
        ManualClock(Arc::new(ManualTime {
            wall: AtomicI64::new(now),
            monotonic: AtomicI64::new(now),
        }))
    }

    /// The current reading.
    pub fn now(&self) -> i64 {
        self.0.wall.load(Ordering::SeqCst)
    }

    /// Sets the reading; a later one moves the monotonic time by as much,
    /// an earlier one leaves it.
    pub fn set(&self, now: i64) {
        let before = self.0.wall.swap(now, Ordering::SeqCst);
        self.forward(now.saturating_sub(before));
    }

    /// Moves the clock by `secs` (negative moves the wall clock back, and
    /// leaves the monotonic time).
    pub fn advance(&self, secs: i64) {
        self.0.wall.fetch_add(secs, Ordering::SeqCst);
        self.forward(secs);
    }

    fn forward(&self, secs: i64) {
        if secs > 0 {
            self.0.monotonic.fetch_add(secs, Ordering::SeqCst);
        }
    }

    /// The monotonic time, in seconds: moved forward as the clock is, never
    /// back.
    pub(crate) fn monotonic(&self) -> i64 {
        self.0.monotonic.load(Ordering::SeqCst)
    }
}

#[cfg(any(test, feature = "testing"))]
impl From<ManualClock> for Clock {
    fn from(m: ManualClock) -> Self {
        Clock::Manual(m)
    }
}

/// Why a time claim fails against the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeError {
    /// `now >= exp + leeway`.
    Expired,
    /// `now + leeway < nbf`.
    NotYetValid,
    /// `iat > now + leeway`.
    IssuedInFuture,
}

/// The clock leeway for `exp`, `nbf` and `iat`, in seconds, and the rules
/// that use it (RFC 7519 §4.1.4-4.1.6). Every sum saturates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Leeway(pub(crate) i64);

impl Leeway {
    /// Checks `exp` and `nbf` at `now`: valid while `now < exp + leeway`
    /// and `nbf <= now + leeway`.
    pub(crate) fn check_window(
        self,
        exp: Option<i64>,
        nbf: Option<i64>,
        now: i64,
    ) -> Result<(), TimeError> {
        if exp.is_some_and(|exp| now >= exp.saturating_add(self.0)) {
            return Err(TimeError::Expired);
        }
        if nbf.is_some_and(|nbf| now.saturating_add(self.0) < nbf) {
            return Err(TimeError::NotYetValid);
        }
        Ok(())
    }

    /// Checks `iat` at `now`: not beyond `now + leeway`.
    pub(crate) fn check_issued_at(self, iat: Option<i64>, now: i64) -> Result<(), TimeError> {
        if iat.is_some_and(|iat| iat > now.saturating_add(self.0)) {
            return Err(TimeError::IssuedInFuture);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_holds_at_its_edges() {
        let l = Leeway(60);
        assert_eq!(l.check_window(Some(1000), None, 1059), Ok(()));
        assert_eq!(
            l.check_window(Some(1000), None, 1060),
            Err(TimeError::Expired)
        );
        assert_eq!(l.check_window(None, Some(1060), 1000), Ok(()));
        assert_eq!(
            l.check_window(None, Some(1061), 1000),
            Err(TimeError::NotYetValid)
        );
        assert_eq!(l.check_issued_at(Some(1060), 1000), Ok(()));
        assert_eq!(
            l.check_issued_at(Some(1061), 1000),
            Err(TimeError::IssuedInFuture)
        );
        assert_eq!(
            l.check_window(Some(i64::MAX), Some(i64::MIN), i64::MAX - 1),
            Ok(())
        );
    }

    #[test]
    fn a_manual_clock_is_shared_by_its_clones() {
        let m = ManualClock::new(5);
        let c = Clock::from(m.clone());
        m.advance(10);
        assert_eq!(c.now(), 15);
        assert_eq!(c.mono_ms(), 15_000);
        // A step back moves the wall clock only.
        m.advance(-100);
        m.set(-200);
        assert_eq!((c.now(), c.mono_ms()), (-200, 15_000));
        m.set(-190);
        assert_eq!((c.now(), c.mono_ms()), (-190, 25_000));
    }
}
