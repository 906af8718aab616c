//! The in-process cache against the shared rotation-cache contract.

#[tokio::test]
async fn memory_cache_honours_the_contract() {
    let cache = infra_memory::MemoryRotationCache::new();
    domain::testing::cache_contract::run(&cache, 1).await;
}
