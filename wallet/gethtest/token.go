package gethtest

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"

	"github.com/procurebot/procurebot/wallet/token"
)

// DeployToken deploys the bundled ERC-20 (wallet/contracts/Token.sol,
// bindings in wallet/token) from the developer account with the given
// decimals and supply, then transfers the whole supply to holder, and
// returns the token's address. holder's nonce is untouched: everything is
// sent from the developer account.
func (n *Node) DeployToken(ctx context.Context, name, symbol string, decimals uint8, supply *big.Int, holder common.Address) (common.Address, error) {
	tok := token.NewToken()
	code := append(common.FromHex(token.TokenMetaData.Bin), tok.PackConstructor(name, symbol, decimals, supply)...)
	r, err := n.SendFromDev(ctx, nil, nil, code)
	if err != nil {
		return common.Address{}, fmt.Errorf("deploy the token: %w", err)
	}
	addr := r.ContractAddress
	if _, err := n.SendFromDev(ctx, &addr, nil, tok.PackTransfer(holder, supply)); err != nil {
		return common.Address{}, fmt.Errorf("transfer the token supply to %s: %w", holder.Hex(), err)
	}
	if bal, err := n.TokenBalance(ctx, addr, holder); err != nil || bal.Cmp(supply) != 0 {
		return common.Address{}, fmt.Errorf("token %s: %s holds %v (err %v), want %s", addr.Hex(), holder.Hex(), bal, err, supply)
	}
	return addr, nil
}

// TokenBalance returns balanceOf(addr) of the ERC-20 at tokenAddr at the
// latest block.
func (n *Node) TokenBalance(ctx context.Context, tokenAddr, addr common.Address) (*big.Int, error) {
	tok := token.NewToken()
	out, err := n.Client.CallContract(ctx, ethereum.CallMsg{To: &tokenAddr, Data: tok.PackBalanceOf(addr)}, nil)
	if err != nil {
		return nil, fmt.Errorf("balanceOf(%s) of token %s: %w", addr.Hex(), tokenAddr.Hex(), err)
	}
	return tok.UnpackBalanceOf(out)
}

// Transfers returns every Transfer event of the ERC-20 at tokenAddr from
// the genesis to the latest block, in chain order; with from set, only
// the transfers from that account.
func (n *Node) Transfers(ctx context.Context, tokenAddr common.Address, from *common.Address) ([]*token.TokenTransfer, error) {
	tok := token.NewToken()
	topics := [][]common.Hash{{tok.GetABI().Events["Transfer"].ID}}
	if from != nil {
		topics = append(topics, []common.Hash{common.BytesToHash(from.Bytes())})
	}
	head, err := n.Client.BlockNumber(ctx)
	if err != nil {
		return nil, err
	}
	logs, err := n.Client.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: big.NewInt(0), ToBlock: new(big.Int).SetUint64(head),
		Addresses: []common.Address{tokenAddr}, Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("Transfer logs of token %s: %w", tokenAddr.Hex(), err)
	}
	out := make([]*token.TokenTransfer, 0, len(logs))
	for i := range logs {
		ev, err := tok.UnpackTransferEvent(&logs[i])
		if err != nil {
			return nil, fmt.Errorf("decode Transfer log %d of tx %s: %w", logs[i].Index, logs[i].TxHash.Hex(), err)
		}
		out = append(out, ev)
	}
	return out, nil
}
