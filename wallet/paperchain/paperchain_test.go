package paperchain_test

import (
	"context"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/store/bolt"
	"github.com/procurebot/procurebot/wallet"
	"github.com/procurebot/procurebot/wallet/paperchain"
	"github.com/procurebot/procurebot/wallet/token"
)

func balance(t *testing.T, c *paperchain.Chain, who common.Address) *big.Int {
	t.Helper()
	tok := token.NewToken()
	out, err := c.Client().CallContract(context.Background(), ethereum.CallMsg{To: &c.Token, Data: tok.PackBalanceOf(who)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tok.UnpackBalanceOf(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Payments made on a paper chain survive its loss: a new chain replays the
// signed transactions and shows the same balances and receipts.
func TestReplayAfterRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ks, err := wallet.OpenKeystore(filepath.Join(dir, "keystore"), "pw", wallet.LightScrypt())
	if err != nil {
		t.Fatal(err)
	}
	addr, err := ks.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ks.Signer(addr)
	if err != nil {
		t.Fatal(err)
	}
	st, err := bolt.Open(filepath.Join(dir, "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := paperchain.Start(ctx, signer, paperchain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	payer, err := wallet.NewPayer(ctx, c.Client(), st, signer, wallet.WithPollInterval(2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	payees := []common.Address{common.HexToAddress("0x00000000000000000000000000000000000000a1"), common.HexToAddress("0x00000000000000000000000000000000000000b2")}
	var hashes []string
	for i, to := range append(payees, payees[0]) {
		in, err := payer.Pay(ctx, &procurebot.PaymentIntent{ID: "p" + string(rune('0'+i)), Token: c.Token.Hex(), To: to.Hex(),
			Amount: big.NewInt(int64(1_000_000 * (i + 1))), AmountUSD: procurebot.NewMoneyFrac(int64(i+1), 1), Venue: "v"})
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, in.Mined)
	}
	token1 := c.Token
	want := []*big.Int{balance(t, c, payees[0]), balance(t, c, payees[1]), balance(t, c, addr)}
	c.Close()

	intents, err := st.ListIntents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := paperchain.Start(ctx, signer, paperchain.Options{Replay: paperchain.SignedTxs(intents)})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.Token != token1 || c2.Replayed != 3 {
		t.Fatalf("token %s (was %s), replayed %d", c2.Token, token1, c2.Replayed)
	}
	got := []*big.Int{balance(t, c2, payees[0]), balance(t, c2, payees[1]), balance(t, c2, addr)}
	for i := range want {
		if got[i].Cmp(want[i]) != 0 {
			t.Errorf("balance %d: %s after replay, %s before", i, got[i], want[i])
		}
	}
	if want[0].Int64() != 4_000_000 || want[1].Int64() != 2_000_000 {
		t.Errorf("payees hold %s and %s", want[0], want[1])
	}
	for _, h := range hashes {
		r, err := c2.Client().TransactionReceipt(ctx, common.HexToHash(h))
		if err != nil || r.Status != 1 {
			t.Errorf("receipt of %s after replay: %v", h, err)
		}
	}
}
