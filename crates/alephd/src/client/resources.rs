//! Posts, aggregates, messages, the node's status, prices and balances.

use alephd_message::signature::Signer;
use alephd_sdk::{FileEngine, NoProgress, SdkError, digest_file};
use anyhow::Context;
use serde_json::{Value, json};

use super::{
    ClientError, Ctx, Output,
    args::{
        AggregateCommand, BalanceArgs, ListArgs, MessageCommand, NodeCommand, PostCommand,
        PriceCommand,
    },
    composer, parse_hash, published, read_content,
};

fn pagination(filter: &ListArgs) -> Vec<(&'static str, String)> {
    vec![
        ("pagination", filter.limit.to_string()),
        ("page", filter.page.max(1).to_string()),
    ]
}

pub(crate) async fn post(ctx: &Ctx, command: PostCommand) -> anyhow::Result<Output> {
    match command {
        PostCommand::Create {
            post_type,
            content,
            reference,
            channel,
        } => {
            let content = read_content(&content)?;
            let account = ctx.account()?;
            let message =
                composer(&account, &channel)?.post(&post_type, content, reference.as_deref())?;
            let result = ctx.client.send(&message).await?;
            Ok(published(&message, &result))
        }
        PostCommand::Amend {
            hash,
            content,
            channel,
        } => {
            let original = parse_hash(&hash)?;
            let content = read_content(&content)?;
            let account = ctx.account()?;
            let message = composer(&account, &channel)?.amend(&original, content)?;
            let result = ctx.client.send(&message).await?;
            Ok(published(&message, &result))
        }
        PostCommand::List { filter, post_type } => {
            let mut query = pagination(&filter);
            if let Some(address) = ctx.address_filter(filter.address.clone()) {
                query.push(("addresses", address));
            }
            if let Some(channel) = &filter.channel {
                query.push(("channels", channel.clone()));
            }
            if let Some(types) = post_type {
                query.push(("types", types));
            }
            let body = ctx.client.posts(&query).await?;
            let mut text = String::new();
            for post in body["posts"].as_array().into_iter().flatten() {
                text.push_str(&format!(
                    "{}  {}  {}\n",
                    post["original_item_hash"].as_str().unwrap_or("?"),
                    post["original_type"].as_str().unwrap_or("?"),
                    post["content"]
                ));
            }
            if text.is_empty() {
                text = "no posts\n".into();
            }
            Ok(Output::new(body, text))
        }
    }
}

pub(crate) async fn aggregate(ctx: &Ctx, command: AggregateCommand) -> anyhow::Result<Output> {
    match command {
        AggregateCommand::Set {
            name: key,
            content,
            channel,
        } => {
            let Value::Object(content) = read_content(&content)? else {
                anyhow::bail!("an aggregate's content must be a JSON object");
            };
            let account = ctx.account()?;
            let message = composer(&account, &channel)?.aggregate(&key, content)?;
            let result = ctx.client.send(&message).await?;
            Ok(published(&message, &result))
        }
        AggregateCommand::Get { name: key, address } => {
            let address = ctx.address_or_key(address)?;
            let value = ctx.client.aggregate(&address, &key).await?.ok_or_else(|| {
                ClientError::NotFound(format!("{address} has no aggregate {key:?}"))
            })?;
            let text = format!("{}\n", serde_json::to_string_pretty(&value)?);
            Ok(Output::new(
                json!({"address": address, "key": key, "value": value}),
                text,
            ))
        }
        AggregateCommand::List { address } => {
            let address = ctx.address_or_key(address)?;
            let data = ctx
                .client
                .aggregates(&address, &[])
                .await?
                .unwrap_or(json!({}));
            let mut text = String::new();
            for (key, value) in data.as_object().into_iter().flatten() {
                text.push_str(&format!("{key}  {value}\n"));
            }
            if text.is_empty() {
                text = format!("{address} has no aggregates\n");
            }
            Ok(Output::new(json!({"address": address, "data": data}), text))
        }
    }
}

pub(crate) async fn message(ctx: &Ctx, command: MessageCommand) -> anyhow::Result<Output> {
    match command {
        MessageCommand::Get { hash } => {
            let hash = parse_hash(&hash)?;
            let body = ctx.client.message(&hash).await?.ok_or_else(|| {
                ClientError::NotFound(format!("the node does not know message {hash}"))
            })?;
            let text = describe_status(&body);
            Ok(Output::new(body, text))
        }
        MessageCommand::List {
            filter,
            message_type,
            reference,
        } => {
            let mut query = pagination(&filter);
            if let Some(address) = &filter.address {
                query.push(("addresses", address.clone()));
            }
            if let Some(channel) = &filter.channel {
                query.push(("channels", channel.clone()));
            }
            if let Some(types) = message_type {
                query.push(("msgTypes", types.to_uppercase()));
            }
            if let Some(refs) = reference {
                query.push(("refs", refs));
            }
            let body = ctx.client.messages(&query).await?;
            let mut text = String::new();
            for m in body["messages"].as_array().into_iter().flatten() {
                text.push_str(&message_line(m));
            }
            if text.is_empty() {
                text = "no messages\n".into();
            }
            Ok(Output::new(body, text))
        }
        MessageCommand::Watch {
            address,
            message_type,
            channel,
            history,
            count,
        } => {
            let mut query = vec![("history", history.to_string())];
            if let Some(address) = address {
                query.push(("addresses", address));
            }
            if let Some(types) = message_type {
                query.push(("msgTypes", types.to_uppercase()));
            }
            if let Some(channel) = channel {
                query.push(("channels", channel));
            }
            let mut watch = ctx.client.watch(&query).await?;
            let mut seen = 0u64;
            while count.is_none_or(|c| seen < c) {
                let Some(next) = watch.next().await else {
                    break;
                };
                let m = next?;
                if ctx.args.json {
                    println!("{m}");
                } else {
                    print!("{}", message_line(&m));
                }
                seen += 1;
            }
            watch.close().await;
            Ok(Output::printed())
        }
        MessageCommand::Forget {
            hashes,
            reason,
            channel,
        } => {
            let hashes = hashes
                .iter()
                .map(|h| parse_hash(h))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let account = ctx.account()?;
            let message = composer(&account, &channel)?.forget(&hashes, &[], reason.as_deref())?;
            let result = ctx.client.send(&message).await?;
            Ok(published(&message, &result))
        }
    }
}

fn message_line(m: &Value) -> String {
    format!(
        "{}  {:<9} {}  {}\n",
        m["item_hash"].as_str().unwrap_or("?"),
        m["type"].as_str().unwrap_or("?"),
        m["sender"].as_str().unwrap_or("?"),
        m["time"]
    )
}

fn describe_status(body: &Value) -> String {
    let mut text = format!("status   {}\n", body["status"].as_str().unwrap_or("?"));
    let message = if body["message"].is_object() {
        &body["message"]
    } else {
        &body["messages"][0]
    };
    for field in ["item_hash", "type", "sender", "chain", "channel", "time"] {
        if !message[field].is_null() {
            text.push_str(&format!(
                "{field:<8} {}\n",
                message[field]
                    .as_str()
                    .map_or_else(|| message[field].to_string(), str::to_owned)
            ));
        }
    }
    if let Some(code) = body["error_code"].as_i64() {
        let meaning = i32::try_from(code)
            .ok()
            .and_then(alephd_message::ErrorCode::from_code)
            .map_or("unknown code", |c| c.message());
        text.push_str(&format!("error    {code}: {meaning}\n"));
    }
    if let Some(by) = body["forgotten_by"].as_array() {
        text.push_str(&format!(
            "forgotten by {}\n",
            by.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !message["content"].is_null() {
        text.push_str(&format!(
            "content\n{}\n",
            serde_json::to_string_pretty(&message["content"]).unwrap_or_default()
        ));
    }
    text
}

pub(crate) async fn node(ctx: &Ctx, command: NodeCommand) -> anyhow::Result<Output> {
    match command {
        NodeCommand::Status => {
            let version = ctx.client.version().await?;
            let public = ctx.client.public_info().await?.unwrap_or(Value::Null);
            let peer_id = public["peer_id"].clone();
            let addrs = public["node_multi_addresses"].clone();
            let value = json!({
                "api": ctx.client.base_url().as_str(),
                "version": version,
                "peer_id": peer_id,
                "multiaddrs": addrs,
            });
            let mut text = format!("node     {}\nversion  {version}\n", ctx.client.base_url());
            if let Some(id) = peer_id.as_str() {
                text.push_str(&format!("peer id  {id}\n"));
            }
            for addr in addrs.as_array().into_iter().flatten() {
                text.push_str(&format!("address  {}\n", addr.as_str().unwrap_or("?")));
            }
            Ok(Output::new(value, text))
        }
    }
}

pub(crate) async fn price(ctx: &Ctx, command: PriceCommand) -> anyhow::Result<Output> {
    let body = match command {
        PriceCommand::Estimate { path, engine } => {
            let digest = digest_file(&path, engine, std::sync::Arc::new(NoProgress)).await?;
            // The signature is not checked for estimates: the key is optional.
            let sender = ctx
                .account()
                .map(|a| a.address().to_owned())
                .unwrap_or_else(|_| "0x0000000000000000000000000000000000000000".into());
            let size_mib = (digest.size as f64 / (1024.0 * 1024.0)).ceil();
            let time = alephd_sdk::now();
            let content = json!({
                "address": sender, "time": time,
                "item_type": match engine { FileEngine::Storage => "storage", FileEngine::Ipfs => "ipfs" },
                "item_hash": digest.hash, "size": digest.size, "estimated_size_mib": size_mib,
            });
            let text = content.to_string();
            let message = json!({
                "chain": "ETH", "sender": sender, "type": "STORE", "channel": "ALEPHD",
                "signature": format!("0x{}", "0".repeat(130)), "time": time, "item_type": "inline",
                "item_content": text, "item_hash": alephd_message::ItemHash::sha256_of(&text),
                "content": content,
            });
            ctx.client.price_estimate_value(&message).await?
        }
        PriceCommand::Get { hash } => ctx.client.price(&parse_hash(&hash)?).await?,
    };
    let mut text = format!(
        "cost     {} ({})\n",
        body["cost"].as_str().unwrap_or("?"),
        body["payment_type"].as_str().unwrap_or("?")
    );
    if let Some(tokens) = body["required_tokens"].as_f64() {
        text.push_str(&format!("tokens   {tokens}\n"));
    }
    for line in body["detail"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "  {} {}: hold {} credit {}\n",
            line["type"].as_str().unwrap_or("?"),
            line["name"].as_str().unwrap_or(""),
            line["cost_hold"],
            line["cost_credit"]
        ));
    }
    Ok(Output::new(body, text))
}

pub(crate) async fn balance(ctx: &Ctx, args: BalanceArgs) -> anyhow::Result<Output> {
    let address = ctx.address_or_key(args.address)?;
    let body = ctx
        .client
        .balance(&address)
        .await
        .map_err(|e| match e {
            SdkError::NotFound { .. } => anyhow::anyhow!("this node serves no balances"),
            other => other.into(),
        })
        .context("cannot read the balance")?;
    let text = format!(
        "address  {address}\nbalance  {}\nlocked   {}\ncredits  {}\n",
        body["balance"], body["locked_amount"], body["credit_balance"]
    );
    Ok(Output::new(body, text))
}
