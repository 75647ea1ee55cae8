//! Sending signed transactions from one key: fees, nonces, receipts, confirmation depth.
//! Used by the writer (`doEmit`), by deployment of the sync contract, and by tools that call
//! `doMessage`. It never retries a send by itself: the caller decides, knowing what a
//! duplicate means for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::abi;
use crate::rpc::{Receipt, RpcClient, RpcError};
use crate::tx::{LegacyTx, TxError, Wallet, sign_legacy};

/// Gas limit margin over the node's estimate, in percent.
const GAS_MARGIN_PERCENT: u64 = 20;
/// Receipt polling interval.
const RECEIPT_POLL: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("rpc: {0}")]
    Rpc(#[from] RpcError),
    #[error("tx: {0}")]
    Tx(#[from] TxError),
    #[error("gas price {price} wei exceeds the cap of {cap} wei")]
    GasPriceTooHigh { price: u128, cap: u128 },
    #[error("transaction {0} reverted")]
    Reverted(String),
    #[error("transaction {0} not mined within {1:?}")]
    NotMined(String, Duration),
    #[error("transaction {0} was dropped by the node")]
    Dropped(String),
    #[error("contract creation {0} has no contract address in its receipt")]
    NoContract(String),
}

/// A transaction handed to the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// `0x`-prefixed keccak256 of the raw transaction.
    pub tx_hash: String,
    pub nonce: u64,
    pub gas_price: u128,
}

/// Sends legacy transactions signed by one wallet.
#[derive(Debug, Clone)]
pub struct TxSender {
    rpc: Arc<RpcClient>,
    wallet: Wallet,
    chain_id: u64,
    /// Highest gas price we accept to pay, in wei.
    max_gas_price: u128,
}

impl TxSender {
    pub fn new(rpc: Arc<RpcClient>, wallet: Wallet, chain_id: u64, max_gas_price: u128) -> Self {
        Self {
            rpc,
            wallet,
            chain_id,
            max_gas_price,
        }
    }

    pub fn address(&self) -> [u8; 20] {
        self.wallet.address()
    }

    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// Signs and sends a call to `to` (or a contract creation), fees and nonce from the node.
    pub async fn send(&self, to: Option<[u8; 20]>, data: Vec<u8>) -> Result<Sent, SendError> {
        let gas_price = self.rpc.gas_price().await?;
        let nonce = self.rpc.nonce(&self.wallet.address()).await?;
        self.send_with(nonce, gas_price, to, data).await
    }

    /// Signs and sends with this nonce and gas price: a replacement of a pending transaction
    /// when the nonce is its nonce (nodes want a higher price for that).
    pub async fn send_with(
        &self,
        nonce: u64,
        gas_price: u128,
        to: Option<[u8; 20]>,
        data: Vec<u8>,
    ) -> Result<Sent, SendError> {
        if gas_price > self.max_gas_price {
            return Err(SendError::GasPriceTooHigh {
                price: gas_price,
                cap: self.max_gas_price,
            });
        }
        let from = self.wallet.address();
        let gas = self.rpc.estimate_gas(&from, to.as_ref(), &data).await?;
        let tx = LegacyTx {
            nonce,
            gas_price,
            gas: gas.saturating_add(gas * GAS_MARGIN_PERCENT / 100),
            to,
            data,
            chain_id: self.chain_id,
        };
        let raw = sign_legacy(&tx, &self.wallet)?;
        // Our own hash: known even if the node's answer is lost.
        let tx_hash = format!("0x{}", hex::encode(abi::keccak256(&raw)));
        let answered = self.rpc.send_raw(&raw).await?;
        if !answered.eq_ignore_ascii_case(&tx_hash) {
            tracing::warn!(ours = %tx_hash, node = %answered, "chain: node reports another tx hash");
        }
        Ok(Sent {
            tx_hash,
            nonce,
            gas_price,
        })
    }

    /// Waits up to `timeout` for the receipt; a reverted transaction is an error.
    pub async fn wait_mined(&self, tx_hash: &str, timeout: Duration) -> Result<Receipt, SendError> {
        let hashes = [tx_hash.to_owned()];
        self.wait_any_mined(&hashes, timeout).await.map(|(_, r)| r)
    }

    /// Waits up to `timeout` for one of `tx_hashes` (versions of one transaction: same
    /// nonce, rising fees) to be mined; returns which one and its receipt.
    pub async fn wait_any_mined(
        &self,
        tx_hashes: &[String],
        timeout: Duration,
    ) -> Result<(String, Receipt), SendError> {
        let last = tx_hashes.last().cloned().unwrap_or_default();
        let deadline = Instant::now() + timeout;
        loop {
            for hash in tx_hashes {
                match self.rpc.receipt(hash).await? {
                    Some(r) if r.success => return Ok((hash.clone(), r)),
                    Some(_) => return Err(SendError::Reverted(hash.clone())),
                    None => {}
                }
            }
            if Instant::now() >= deadline {
                for hash in tx_hashes {
                    if self.is_known(hash).await? {
                        return Err(SendError::NotMined(hash.clone(), timeout));
                    }
                }
                return Err(SendError::Dropped(last));
            }
            tokio::time::sleep(RECEIPT_POLL).await;
        }
    }

    /// Waits until one of `tx_hashes` is `depth` blocks deep (0: mined), re-reading its
    /// receipt at that depth: a reorg may have moved it to another block.
    pub async fn wait_buried(
        &self,
        tx_hashes: &[String],
        depth: u64,
        timeout: Duration,
    ) -> Result<(String, Receipt), SendError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (hash, receipt) = self.wait_any_mined(tx_hashes, left).await?;
            let head = self.rpc.block_number().await?;
            if head >= receipt.block.saturating_add(depth) {
                // Still there at depth?
                if let Some(again) = self.rpc.receipt(&hash).await?
                    && again.block == receipt.block
                {
                    return Ok((hash, again));
                }
                continue;
            }
            if Instant::now() >= deadline {
                return Err(SendError::NotMined(hash, timeout));
            }
            tokio::time::sleep(RECEIPT_POLL).await;
        }
    }

    /// Whether the node still knows the transaction (pending or mined).
    async fn is_known(&self, tx_hash: &str) -> Result<bool, SendError> {
        let v = self
            .rpc
            .call("eth_getTransactionByHash", json!([tx_hash]))
            .await?;
        Ok(!v.is_null())
    }

    /// Deploys the AlephSync contract; returns its address once mined.
    pub async fn deploy_aleph_sync(&self, timeout: Duration) -> Result<[u8; 20], SendError> {
        let code = hex::decode(crate::ALEPH_SYNC_BYTECODE_HEX.trim())
            .map_err(|e| TxError::Sign(format!("bundled bytecode is not hex: {e}")))?;
        let sent = self.send(None, code).await?;
        let receipt = self.wait_mined(&sent.tx_hash, timeout).await?;
        receipt
            .contract_address
            .ok_or(SendError::NoContract(sent.tx_hash))
    }

    /// Calls `doMessage(msgtype, msgcontent)` on the sync contract (a user's on-chain message).
    pub async fn do_message(
        &self,
        contract: [u8; 20],
        msgtype: &str,
        msgcontent: &str,
    ) -> Result<Sent, SendError> {
        let data = abi::encode_strings_call(abi::DO_MESSAGE_SIG, &[msgtype, msgcontent]);
        self.send(Some(contract), data).await
    }

    /// Calls `doEmit(message)` on the sync contract.
    pub async fn do_emit(&self, contract: [u8; 20], message: &str) -> Result<Sent, SendError> {
        let data = abi::encode_strings_call(abi::DO_EMIT_SIG, &[message]);
        self.send(Some(contract), data).await
    }
}
