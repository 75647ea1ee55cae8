//! The ERC-20 balance reader against a real token on a real anvil chain: the test token
//! (contracts/TestToken.sol, built by solcjs) is deployed and moved around with signed
//! transactions; the reader must report exactly what `balanceOf` says, after N
//! confirmations, resuming from its checkpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may unwrap

use std::sync::{Arc, Mutex};
use std::time::Duration;

use alephd_chain::{
    BalanceSink, ChainConfig, CheckpointStore, FileCheckpointStore, HolderBalance, RpcClient,
    SeamError, TokenReader, TxSender, abi, tx::Wallet,
};
use alephd_testing::{ANVIL_CHAIN_ID, ANVIL_KEYS, Anvil};
use async_trait::async_trait;
use serde_json::json;

const TOKEN_BYTECODE: &str = include_str!("../../../contracts/build/TestToken_sol_TestToken.bin");
const WEI: u128 = 1_000_000_000_000_000_000;

#[derive(Default)]
struct Balances {
    updates: Mutex<Vec<(String, HolderBalance)>>,
}

#[async_trait]
impl BalanceSink for Balances {
    async fn update(&self, token: &str, balances: Vec<HolderBalance>) -> Result<(), SeamError> {
        let mut u = self.updates.lock().unwrap();
        u.extend(balances.into_iter().map(|b| (token.to_owned(), b)));
        Ok(())
    }
}

impl Balances {
    /// The latest balance reported per holder.
    fn latest(&self, holder: &str) -> Option<f64> {
        self.updates
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(_, b)| b.address == holder)
            .map(|(_, b)| b.balance)
    }
}

fn sender(anvil: &Anvil, key: &str) -> TxSender {
    let rpc = Arc::new(RpcClient::new(&anvil.url(), Duration::from_secs(10)).unwrap());
    TxSender::new(
        rpc,
        Wallet::from_hex(key).unwrap(),
        ANVIL_CHAIN_ID,
        u128::MAX,
    )
}

fn transfer_call(to: &[u8; 20], amount: u128) -> Vec<u8> {
    let mut data = abi::selector("transfer(address,uint256)").to_vec();
    data.extend_from_slice(&[0u8; 12]);
    data.extend_from_slice(to);
    data.extend_from_slice(&[0u8; 16]);
    data.extend_from_slice(&amount.to_be_bytes());
    data
}

async fn transfer(anvil: &Anvil, key: &str, token: [u8; 20], to: &[u8; 20], amount: u128) {
    let s = sender(anvil, key);
    let sent = s
        .send(Some(token), transfer_call(to, amount))
        .await
        .unwrap();
    s.wait_mined(&sent.tx_hash, Duration::from_secs(30))
        .await
        .unwrap();
}

#[tokio::test]
async fn transfer_events_keep_holder_balances_exactly_as_balance_of() {
    let anvil = Anvil::start().unwrap();
    let rpc = RpcClient::new(&anvil.url(), Duration::from_secs(10)).unwrap();
    let owner = sender(&anvil, ANVIL_KEYS[0]);
    let code = hex::decode(TOKEN_BYTECODE.trim()).unwrap();
    let deployed = owner.send(None, code).await.unwrap();
    let receipt = owner
        .wait_mined(&deployed.tx_hash, Duration::from_secs(30))
        .await
        .unwrap();
    let token = receipt.contract_address.unwrap();
    let alice = Wallet::from_hex(ANVIL_KEYS[1]).unwrap().address();
    let bob = [0xb0; 20];

    let dir = tempfile::tempdir().unwrap();
    let cfg = ChainConfig {
        enabled: true,
        rpc_url: anvil.url(),
        chain_id: ANVIL_CHAIN_ID,
        confirmations: 2,
        start_block: 0,
        authorized_emitters: Vec::new(),
        token_contract: Some(abi::address_hex(&token)),
        token_start_block: 0,
        ..ChainConfig::default()
    };
    let sink = Arc::new(Balances::default());
    let checkpoints = Arc::new(FileCheckpointStore::new(&dir.path().join("cp.json")));
    let reader = TokenReader::new(&cfg, sink.clone(), checkpoints.clone()).unwrap();

    transfer(&anvil, ANVIL_KEYS[0], token, &alice, 1_000 * WEI).await;
    transfer(&anvil, ANVIL_KEYS[1], token, &bob, 250 * WEI + WEI / 2).await;
    // The transfers are not yet two blocks deep: only the mint (block 1) is reported.
    let stats = reader.sync_once().await.unwrap();
    assert_eq!(stats.transfers, 1, "{stats:?}");
    assert_eq!(
        sink.latest(&abi::address_hex(&owner.address())),
        Some(1_000_000.0)
    );
    assert_eq!(sink.latest(&abi::address_hex(&bob)), None);
    rpc.call("anvil_mine", json!(["0x2"])).await.unwrap();
    let stats = reader.sync_once().await.unwrap();
    assert_eq!(stats.transfers, 2, "{stats:?}");
    assert_eq!(sink.latest(&abi::address_hex(&alice)), Some(749.5));
    assert_eq!(sink.latest(&abi::address_hex(&bob)), Some(250.5));
    assert_eq!(
        sink.latest(&abi::address_hex(&owner.address())),
        Some(999_000.0)
    );
    assert!(
        sink.latest(&abi::address_hex(&[0u8; 20])).is_none(),
        "the zero address (mint) is no holder"
    );
    let token_hex = abi::address_hex(&token);
    assert!(
        sink.updates
            .lock()
            .unwrap()
            .iter()
            .all(|(t, _)| *t == token_hex)
    );

    // A restarted reader resumes after its checkpoint: only bob's new transfer is read.
    drop(reader);
    transfer(&anvil, ANVIL_KEYS[0], token, &bob, WEI).await;
    rpc.call("anvil_mine", json!(["0x2"])).await.unwrap();
    let reader = TokenReader::new(&cfg, sink.clone(), checkpoints.clone()).unwrap();
    let stats = reader.sync_once().await.unwrap();
    assert_eq!(stats.transfers, 1, "{stats:?}");
    assert_eq!(sink.latest(&abi::address_hex(&bob)), Some(251.5));
    assert_eq!(
        checkpoints
            .load(reader.checkpoint_key())
            .await
            .unwrap()
            .last_block,
        Some(rpc.block_number().await.unwrap() - 2)
    );
}
