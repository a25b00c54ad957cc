//! Medians and percentiles of measured times.

use std::time::Duration;

/// The distribution of one case's samples (each a duration per operation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub median: Duration,
    pub p99: Duration,
    pub samples: usize,
}

impl Summary {
    /// Summarises `samples` (nanoseconds); `None` if there are none.
    pub fn of(mut samples: Vec<u64>) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |q: f64| {
            Duration::from_nanos(samples[((samples.len() - 1) as f64 * q).round() as usize])
        };
        Some(Summary {
            median: at(0.5),
            p99: at(0.99),
            samples: samples.len(),
        })
    }
}

impl Summary {
    /// The median of `middle` and the 99th percentile of `tail` — two samplings of the same
    /// operation, when no one sampling gives both well (see `latency::measure`). `None` if
    /// either is empty.
    pub fn of_two(middle: Vec<u64>, tail: Vec<u64>) -> Option<Summary> {
        let (m, t) = (Summary::of(middle)?, Summary::of(tail)?);
        Some(Summary {
            median: m.median,
            p99: t.p99,
            samples: m.samples + t.samples,
        })
    }

    /// Of several rounds' summaries, the one whose median is the median (an odd count: the
    /// middle one; even: the lower of the two middles).
    pub fn middle(rounds: &[Summary]) -> Summary {
        let mut sorted = rounds.to_vec();
        sorted.sort_by_key(|s| s.median);
        sorted[(sorted.len() - 1) / 2]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p99() {
        let s = Summary::of((1..=100).collect()).unwrap();
        assert_eq!(s.median, Duration::from_nanos(51));
        assert_eq!(s.p99, Duration::from_nanos(99));
        assert!(Summary::of(vec![]).is_none());
        let r = |n| Summary::of(vec![n]).unwrap();
        assert_eq!(Summary::middle(&[r(30), r(10), r(20)]), r(20));
        assert_eq!(Summary::middle(&[r(30), r(10)]), r(10));
        let two = Summary::of_two(vec![5, 6, 7], (1..=100).collect()).unwrap();
        assert_eq!(
            (two.median, two.p99),
            (Duration::from_nanos(6), Duration::from_nanos(99))
        );
        assert!(Summary::of_two(vec![], vec![1]).is_none());
    }
}
