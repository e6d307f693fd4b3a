package wallet_test

import (
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/ethclient/simulated"

	storebolt "github.com/procurebot/procurebot/store/bolt"
	"github.com/procurebot/procurebot/wallet"
)

// The Payer runs against any JSON-RPC node (ethclient.Dial) and the
// simulated chain, over the store package's bbolt store.
var (
	_ wallet.Chain       = (*ethclient.Client)(nil)
	_ wallet.Chain       = simulated.Client(nil)
	_ wallet.IntentStore = (*storebolt.Store)(nil)
	_ wallet.Signer      = (*wallet.AccountSigner)(nil)
)
