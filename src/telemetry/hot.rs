//! The counters every served request counts, kept as handles of the
//! global recorder instead of being looked up in it per count.
//!
//! `metrics::counter!` asks the recorder in use for the counter on every
//! count; with a Prometheus recorder that is a hash, a registry lookup and
//! a key comparison, 260-530 instructions a count and 3 counts on every
//! request with a cached token (~1,600 instructions, a tenth of a
//! request's user-space work over HTTP). These counts instead use handles
//! the global recorder gave for them, once it is certain that the recorder
//! in use *is* the global one, and while they cannot have gone stale:
//!
//! - The global recorder is set at most once and never replaced nor
//!   dropped (`metrics::set_global_recorder`), so its address identifies it
//!   for the life of the process. A thread of its own (a "probe", which
//!   has no thread-local recorder) asks `metrics::with_recorder` for the
//!   recorder: what it sees is the global one, or the no-op recorder when
//!   none is set yet. Only the former (a recorder of non-zero size: the
//!   no-op recorder has none) has its address kept.
//! - A count uses kept handles only when the recorder in use has that
//!   address and a non-zero size. A thread-local recorder (a test's
//!   `with_local_recorder`) lives elsewhere while the global one lives, so
//!   it is asked as the macro would ask it, however often it is created
//!   again at the same place: no count of one reaches another.
//! - The handles are kept per thread and asked for again [`REFRESH`]
//!   after they were given (on the first count after that). A recorder may
//!   drop a metric no one updated for a while (metrics-exporter-prometheus's
//!   `idle_timeout`), and a handle kept from before would count into
//!   nothing (metrics-rs/metrics#372). It drops one only after it went
//!   unupdated for its idle timeout: when that is at least [`REFRESH`], a
//!   thread's first count after such a gap asks again; and a metric dropped
//!   by a scrape between a thread's asking and its first count (a race
//!   found by review) loses at most [`REFRESH`] of that thread's counts.
//! - Counts made before the global recorder is known go the macro's way,
//!   and start a probe on the 1st, 2nd, 4th, 8th, … such count (a global
//!   recorder installed after the validator: found at the next one; only
//!   thread-local recorders: a probe per doubling of their counts).

use std::cell::RefCell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use metrics::{Counter, Key, Level, Metadata, Recorder};

/// The metadata `metrics::counter!` gives the counters of this crate.
static METADATA: Metadata<'static> = Metadata::new(
    "bearer_guard::telemetry",
    Level::INFO,
    Some("bearer_guard::telemetry"),
);

/// How long a thread's handles serve before it asks for them again: a
/// recorder that drops metrics idle for less (none does, in practice:
/// scrapes are seconds apart) may lose counts, and a metric dropped just
/// after a thread asked loses at most this long of the thread's counts.
pub(crate) const REFRESH: Duration = Duration::from_millis(500);

/// `N` counters, counted through the global recorder's handles once it is
/// known.
pub(crate) struct HotCounters<const N: usize> {
    keys: [Key; N],
    /// The global recorder's address, once a probe saw it.
    global: OnceLock<usize>,
    /// Counts made the macro's way while it is not known.
    unkept: AtomicU64,
}

/// One thread's handles for one set of counters.
struct Kept {
    /// The set's address (the sets are statics).
    set: usize,
    counters: Box<[Counter]>,
    /// When to ask for them again: [`REFRESH`] after they were given.
    due: Instant,
}

thread_local! {
    /// This thread's handles, for each set it counted in (one, in use).
    static KEPT: RefCell<Vec<Kept>> = const { RefCell::new(Vec::new()) };
}

/// The recorder's address, or `None` for a recorder of zero size (the no-op
/// recorder among them), whose address identifies nothing.
fn identity(recorder: &dyn Recorder) -> Option<usize> {
    (std::mem::size_of_val(recorder) != 0).then(|| std::ptr::from_ref(recorder).cast::<()>().addr())
}

impl<const N: usize> HotCounters<N> {
    /// Counters under these keys (static, as `Key::from_static_parts`
    /// makes them).
    pub(crate) const fn new(keys: [Key; N]) -> Self {
        HotCounters {
            keys,
            global: OnceLock::new(),
            unkept: AtomicU64::new(0),
        }
    }

    /// Adds one to counter `i` (no-op past `N`) of the recorder in use.
    #[inline]
    pub(crate) fn increment(&'static self, i: usize) {
        self.increment_each(&[i]);
    }

    /// Adds one to each of the counters `each` (no-op past `N`).
    #[inline]
    pub(crate) fn increment_each(&'static self, each: &[usize]) {
        if !self.increment_kept(each, Instant::now()) {
            for &i in each {
                // Detached: the probe ends on its own.
                drop(self.increment_unkept(i));
            }
        }
    }

    /// Counts with this thread's handles, at `now`, when the recorder in
    /// use is the global one (asking it for them when this thread has none
    /// or had them idle for [`REFRESH`]); `false` when it is not.
    fn increment_kept(&self, each: &[usize], now: Instant) -> bool {
        let Some(&global) = self.global.get() else {
            return false;
        };
        let set = std::ptr::from_ref(self).addr();
        metrics::with_recorder(|recorder| {
            if identity(recorder) != Some(global) {
                return false;
            }
            // `None` while the thread is being torn down: the macro's way.
            KEPT.try_with(|kept| {
                let Ok(mut kept) = kept.try_borrow_mut() else {
                    return false;
                };
                let entry = match kept.iter_mut().position(|k| k.set == set) {
                    Some(at) => kept.get_mut(at),
                    None => {
                        kept.push(Kept {
                            set,
                            counters: Box::default(),
                            due: now,
                        });
                        kept.last_mut()
                    }
                };
                let Some(entry) = entry else {
                    return false;
                };
                // Handles given REFRESH ago or more are asked for again,
                // whether the thread was idle since (a metric dropped
                // meanwhile) or busy (one dropped by a scrape between the
                // asking and the first count: counted into nothing for at
                // most REFRESH).
                if now >= entry.due || entry.counters.is_empty() {
                    entry.counters = self
                        .keys
                        .iter()
                        .map(|key| recorder.register_counter(key, &METADATA))
                        .collect();
                    entry.due = now.checked_add(REFRESH).unwrap_or(now);
                }
                for &i in each {
                    if let Some(counter) = entry.counters.get(i) {
                        counter.increment(1);
                    }
                }
                true
            })
            .unwrap_or(false)
        })
    }

    /// Counts the macro's way, and starts a probe on the 1st, 2nd, 4th, …
    /// such count while the global recorder is not known (its handle is
    /// returned).
    #[cold]
    fn increment_unkept(&'static self, i: usize) -> Option<JoinHandle<()>> {
        if let Some(key) = self.keys.get(i) {
            metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA))
                .increment(1);
        }
        if self.global.get().is_some() {
            // A thread-local recorder: the global one is already known.
            return None;
        }
        let n = self.unkept.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if !n.is_power_of_two() {
            return None;
        }
        // Without a thread the counts simply stay the macro's way.
        std::thread::Builder::new()
            .name("bearer-guard-metrics".into())
            .spawn(move || metrics::with_recorder(|recorder| self.learn(recorder)))
            .ok()
    }

    /// Learns `recorder`'s address, when it has one. Called only where no
    /// thread-local recorder can be in use, so that `recorder` is the
    /// global one.
    fn learn(&self, recorder: &dyn Recorder) {
        if let Some(address) = identity(recorder) {
            // A second probe finds the same recorder: either result holds.
            let _ = self.global.set(address);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics::{Counter, KeyName, Label, SharedString, Unit};
    use std::collections::HashMap;
    use std::sync::atomic::AtomicU64;
    use std::sync::{Arc, Mutex};

    /// A recorder that counts how often it is asked for a counter, and
    /// the counts of each counter by name.
    #[derive(Default)]
    struct Counting {
        registrations: AtomicU64,
        counters: Mutex<HashMap<String, Arc<AtomicU64>>>,
    }

    impl Counting {
        fn value(&self, name: &str) -> u64 {
            let counters = self.counters.lock().unwrap();
            counters.get(name).map_or(0, |c| c.load(Ordering::Relaxed))
        }
        fn registrations(&self) -> u64 {
            self.registrations.load(Ordering::Relaxed)
        }
    }

    impl Recorder for Counting {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            self.registrations.fetch_add(1, Ordering::Relaxed);
            let mut counters = self.counters.lock().unwrap();
            let counter = counters.entry(key.name().to_owned()).or_default();
            Counter::from_arc(Arc::clone(counter))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> metrics::Histogram {
            metrics::Histogram::noop()
        }
    }

    static LABELS: [Label; 1] = [Label::from_static_parts("result", "hit")];
    static HOT: HotCounters<2> = HotCounters::new([
        Key::from_static_parts("hot_test_a", &LABELS),
        Key::from_static_parts("hot_test_b", &LABELS),
    ]);

    impl Counting {
        /// Drops the metric, as a recorder drops an idle one: handles
        /// given before count into nothing.
        fn drop_metric(&self, name: &str) {
            self.counters.lock().unwrap().remove(name);
        }
    }

    /// Counts until the count that starts a probe, and waits for it.
    fn count_until_a_probe_ran(i: usize) -> u64 {
        let mut counts = 0;
        loop {
            counts += 1;
            if let Some(probe) = HOT.increment_unkept(i) {
                probe.join().unwrap();
                return counts;
            }
            assert!(counts < 1 << 20, "no probe started");
        }
    }

    // One test: the global recorder is the process's, set once, in order.
    #[test]
    fn counts_use_the_global_recorders_kept_handles_and_never_a_thread_locals() {
        // Before a global recorder: a probe sees the no-op recorder, and
        // never the thread-local one of the thread that counts.
        let local = Counting::default();
        metrics::with_local_recorder(&local, || count_until_a_probe_ran(0));
        assert!(
            HOT.global.get().is_none(),
            "a thread-local recorder was kept"
        );
        assert!(!HOT.increment_kept(&[0], Instant::now()));
        assert_eq!(local.value("hot_test_a"), 1);

        // A global recorder installed after counting began is found by the
        // next probe, on a later doubling of the counts.
        let global: &'static Counting = Box::leak(Box::default());
        metrics::set_global_recorder(global).unwrap();
        let counted = count_until_a_probe_ran(0);
        assert!(counted <= 2, "the probe came {counted} counts late");
        assert!(HOT.global.get().is_some());
        assert_eq!(global.value("hot_test_a"), counted);

        // A thread asks for its handles once, then counts without asking
        // until REFRESH after that.
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let refresh = REFRESH.as_millis() as u64;
        let asked = global.registrations();
        assert!(HOT.increment_kept(&[0], at(0)));
        assert_eq!(global.registrations(), asked + 2, "both keys, once");
        let asked = global.registrations();
        for n in 1..=100 {
            assert!(HOT.increment_kept(&[0], at(n * (refresh - 1) / 100)));
        }
        assert!(HOT.increment_kept(&[1, 2], at(refresh - 1))); // 2: past the keys, no panic
        assert_eq!(global.value("hot_test_a"), counted + 101);
        assert_eq!(global.value("hot_test_b"), 1);
        assert_eq!(
            global.registrations(),
            asked,
            "a kept count asked the recorder"
        );

        // After a gap of REFRESH, the thread asks again: a metric the
        // recorder dropped meanwhile (idle) is counted anew, not into the
        // dropped one.
        global.drop_metric("hot_test_a");
        let later = 2 * refresh;
        assert!(HOT.increment_kept(&[0], at(later)));
        assert_eq!(global.value("hot_test_a"), 1);
        assert_eq!(global.registrations(), asked + 2);
        // A busy thread asks again too, every REFRESH: a metric dropped
        // between the asking and its first count loses at most that long.
        global.drop_metric("hot_test_a");
        for ms in (later + 100..later + refresh).step_by(100) {
            assert!(HOT.increment_kept(&[0], at(ms)));
        }
        assert_eq!(
            global.value("hot_test_a"),
            0,
            "counted into the dropped metric"
        );
        assert!(HOT.increment_kept(&[0], at(later + refresh)));
        assert_eq!(global.value("hot_test_a"), 1);
        assert_eq!(global.registrations(), asked + 4);

        // Another thread keeps handles of its own.
        let asked = global.registrations();
        std::thread::spawn(|| {
            for _ in 0..5 {
                HOT.increment(1);
                HOT.increment_each(&[1]);
            }
        })
        .join()
        .unwrap();
        assert_eq!(global.value("hot_test_b"), 11);
        assert!(global.registrations() >= asked + 2);

        // Thread-local recorders, created again and again at one place,
        // each get their own counts and none reaches the global one.
        for round in 1..=3 {
            let local = Counting::default();
            metrics::with_local_recorder(&local, || {
                for _ in 0..round {
                    HOT.increment(1);
                }
            });
            assert_eq!(local.value("hot_test_b"), round, "round {round}");
            assert_eq!(local.registrations(), round);
        }
        assert_eq!(global.value("hot_test_b"), 11);
        // And a zero-sized thread-local recorder (the no-op one) too.
        metrics::with_local_recorder(&metrics::NoopRecorder, || HOT.increment(0));
        assert_eq!(global.value("hot_test_a"), 1);
    }

    #[test]
    fn a_recorder_of_zero_size_is_never_learned() {
        static ZERO: HotCounters<1> =
            HotCounters::new([Key::from_static_parts("hot_test_zero", &LABELS)]);
        ZERO.learn(&metrics::NoopRecorder);
        assert!(ZERO.global.get().is_none());
        let sized = Counting::default();
        ZERO.learn(&sized);
        assert!(ZERO.global.get().is_some());
    }
}
