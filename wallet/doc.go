// Package wallet pays procurebot's stablecoin bills on an Ethereum chain,
// each payment exactly once whatever crashes around it.
//
// Its parts:
//
//   - Keystore: go-ethereum's encrypted keystore (scrypt key files in a
//     directory), the password from PROCUREBOT_WALLET_PASSWORD or the file
//     named by PROCUREBOT_WALLET_PASSWORD_FILE (PasswordFromEnv). Neither the
//     key nor the password ever appears in a log line or an error.
//   - Payer: ERC-20 transfers driven by durable payment intents
//     (procurebot.PaymentIntent, kept in an IntentStore). The intent is
//     durable before anything is signed, the signed transaction and its hash
//     are durable before broadcast, and a Signed or Sent intent is never
//     given a new nonce: Reconcile finishes or re-broadcasts the same signed
//     transaction, Bump replaces a stuck one with the same nonce and at least
//     10 % higher fees. A NonceManager serialises the sends of one key.
//   - ToBaseUnits and FromBaseUnits: exact conversion between decimal
//     amounts and a token's integer base units.
//
// The Payer talks to a chain through the small Chain interface, met by
// go-ethereum's *ethclient.Client (any JSON-RPC URL, ethclient.Dial) and by
// the simulated backend's client (ethclient/simulated) that the tests use.
// It works with any ERC-20 by address; the bundled token (wallet/contracts,
// bindings in wallet/token) stands in for USDC on the simulated chain.
package wallet
