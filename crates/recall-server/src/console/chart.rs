//! A bar chart of accesses over time as inline SVG, drawn on the server (no script, no
//! inline style: the CSP forbids both; sizes are SVG attributes). Days are bucketed so
//! that at most [`MAX_BARS`] bars are drawn; every bar carries a `<title>` with its
//! dates and count, and the page has the same numbers as a table.

use std::collections::BTreeMap;

use jiff::ToSpan;
use jiff::civil::Date;

/// Most bars drawn.
pub const MAX_BARS: i64 = 60;
const WIDTH: i64 = 720;
const HEIGHT: i64 = 160;
const BOTTOM: i64 = 20;

/// One bar, in SVG user units.
pub struct Bar {
    /// Left edge.
    pub x: i64,
    /// Top edge.
    pub y: i64,
    /// Width.
    pub w: i64,
    /// Height.
    pub h: i64,
    /// First day of the bucket.
    pub from: String,
    /// Last day of the bucket.
    pub to: String,
    /// Accesses in it.
    pub count: u64,
}

/// The chart: its bars and axis labels.
pub struct Chart {
    /// Bars, oldest first.
    pub bars: Vec<Bar>,
    /// Days per bar.
    pub days_per_bar: i64,
    /// Most accesses in one bar (the top of the axis).
    pub peak: u64,
    /// First and last day shown.
    pub first: String,
    /// Last day shown.
    pub last: String,
    /// `viewBox` width and height.
    pub width: i64,
    /// `viewBox` height.
    pub height: i64,
}

/// The chart of per-day counts (`None` when there is nothing to draw).
pub fn chart(per_day: &BTreeMap<Date, u64>) -> Option<Chart> {
    let (&first, &last) = (per_day.keys().next()?, per_day.keys().next_back()?);
    let span = first.until(last).ok()?.get_days() as i64 + 1;
    let per_bar = (span + MAX_BARS - 1) / MAX_BARS;
    let buckets = (span + per_bar - 1) / per_bar;
    let mut counts = vec![0u64; buckets as usize];
    for (day, n) in per_day {
        let i = first.until(*day).ok()?.get_days() as i64 / per_bar;
        counts[i as usize] += n;
    }
    let peak = counts.iter().copied().max().unwrap_or(0).max(1);
    let w = WIDTH / buckets.max(1);
    let plot = HEIGHT - BOTTOM;
    let bars = counts
        .iter()
        .enumerate()
        .map(|(i, &count)| {
            let start = first
                .checked_add((i as i64 * per_bar).days())
                .unwrap_or(first);
            let end = start
                .checked_add((per_bar - 1).days())
                .unwrap_or(start)
                .min(last);
            let h = (count as i64 * plot) / peak as i64;
            Bar {
                x: i as i64 * w,
                y: plot - h,
                w: (w - 1).max(1),
                h,
                from: start.to_string(),
                to: end.to_string(),
                count,
            }
        })
        .collect();
    Some(Chart {
        bars,
        days_per_bar: per_bar,
        peak,
        first: first.to_string(),
        last: last.to_string(),
        width: WIDTH,
        height: HEIGHT,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn days_are_bucketed_and_scaled() {
        let d = |s: &str| s.parse::<Date>().unwrap();
        let mut m = BTreeMap::new();
        m.insert(d("2026-01-01"), 2);
        m.insert(d("2026-01-03"), 4);
        let c = chart(&m).unwrap();
        assert_eq!((c.bars.len(), c.days_per_bar, c.peak), (3, 1, 4));
        assert_eq!(c.bars[1].count, 0);
        assert_eq!(c.bars[2].h, HEIGHT - BOTTOM);
        assert_eq!(c.bars[0].h, (HEIGHT - BOTTOM) / 2);
        // A year is drawn in at most MAX_BARS bars, and no access is lost.
        m.insert(d("2026-12-31"), 1);
        let c = chart(&m).unwrap();
        assert!(c.bars.len() as i64 <= MAX_BARS && c.days_per_bar == 7);
        assert_eq!(c.bars.iter().map(|b| b.count).sum::<u64>(), 7);
        assert_eq!(c.bars.last().unwrap().to, "2026-12-31");
        assert!(chart(&BTreeMap::new()).is_none());
    }
}
