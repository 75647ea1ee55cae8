// Drives a live alephd with the real @aleph-sdk/client, unmodified.
// Usage: node sdk_flow.mjs API_URL   — prints "JS FLOW OK" when every check passed.
import assert from 'node:assert/strict'
import { AuthenticatedAlephHttpClient } from '@aleph-sdk/client'
import { importAccountFromPrivateKey } from '@aleph-sdk/ethereum'

const api = process.argv[2]
const channel = 'ALEPHD-JS'
const account = importAccountFromPrivateKey('0x' + '33'.repeat(32))
const client = new AuthenticatedAlephHttpClient(account, api)

function ok(what) {
  console.log(`ok - ${what}`)
}

const post = await client.createPost({ postType: 'js-post', content: { hello: 'js' }, channel, sync: true })
assert.equal(post.content.content.hello, 'js')
const fetched = await client.getMessage(post.item_hash)
assert.deepEqual(fetched.content.content, { hello: 'js' })
ok('createPost sync, getMessage')

await client.createAggregate({ key: 'js-profile', content: { a: 1, b: 1 }, channel, sync: true })
await client.createAggregate({ key: 'js-profile', content: { b: 2 }, channel, sync: true })
const value = await client.fetchAggregate(account.address, 'js-profile')
assert.deepEqual(value, { a: 1, b: 2 })
ok('createAggregate merged')

const listed = await client.getMessages({ channels: [channel], addresses: [account.address] })
const types = listed.messages.map((m) => m.type).sort()
assert.deepEqual(types, ['AGGREGATE', 'AGGREGATE', 'POST'])
const byHash = await client.getMessages({ hashes: [post.item_hash] })
assert.equal(byHash.messages.length, 1)
assert.equal(byHash.messages[0].item_hash, post.item_hash)
ok('getMessages filters')

console.log('JS FLOW OK')
