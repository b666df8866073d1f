//! Splitting the interpolation points of one or several paths into chunks of bounded size, so
//! that memory stays bounded whatever the number of steps and layers. The chunks run on the
//! runtime's workers ([`crate::runtime::Runtime::map_parallel`]).

/// One interpolation point: which path (index into the request's paths) and which step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub path: usize,
    pub step: usize,
}

/// All (path, step) points in path order, cut into chunks of at most `max_batch` points.
pub fn chunks(num_paths: usize, steps: usize, max_batch: usize) -> Vec<Vec<Point>> {
    let max_batch = max_batch.max(1);
    let all: Vec<Point> = (0..num_paths)
        .flat_map(|path| (0..steps).map(move |step| Point { path, step }))
        .collect();
    all.chunks(max_batch).map(<[Point]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_point_once_in_order() {
        let c = chunks(3, 5, 4);
        assert_eq!(c.len(), 4);
        assert!(c.iter().all(|ch| ch.len() <= 4));
        let flat: Vec<Point> = c.into_iter().flatten().collect();
        assert_eq!(flat.len(), 15);
        assert_eq!(flat[5], Point { path: 1, step: 0 });
        assert_eq!(chunks(1, 3, 0).len(), 3);
    }
}
