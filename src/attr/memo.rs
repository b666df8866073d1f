//! Work that several runs on one prepared input can share. CA-LIG variants that differ only in
//! how they fuse and aggregate (λ, fusion, aggregation, propagation, ...) share one computation
//! of their layer paths and attention maps, the costly part; `calig eval` keeps one memo per
//! example so that its CA-LIG entries pay for those once. A method keys what it stores by what
//! the value depends on (the target included).

use crate::error::Result;
use std::any::Any;
use std::collections::HashMap;

/// Shared intermediate results of one input, keyed by what they depend on.
#[derive(Default)]
pub struct Memo {
    values: HashMap<String, Box<dyn Any>>,
}

impl Memo {
    /// The value stored under `key`, made by `make` the first time. A key names one type: a
    /// value of another type under the same key is made again (and replaces it).
    pub fn get_or_make<T: 'static>(
        &mut self,
        key: String,
        make: impl FnOnce() -> Result<T>,
    ) -> Result<&T> {
        if !self.values.get(&key).is_some_and(|v| v.is::<T>()) {
            self.values.insert(key.clone(), Box::new(make()?));
        }
        Ok(self.values[&key]
            .downcast_ref()
            .expect("the value under this key has this type"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_value_is_made_once_per_key() {
        let mut memo = super::Memo::default();
        let mut made = 0;
        for _ in 0..3 {
            let v = memo
                .get_or_make("a".into(), || {
                    made += 1;
                    Ok(vec![1.0f64])
                })
                .unwrap();
            assert_eq!(v, &vec![1.0]);
        }
        assert_eq!(made, 1);
        let other = memo.get_or_make("b".into(), || Ok(2u8)).unwrap();
        assert_eq!(*other, 2);
    }
}
