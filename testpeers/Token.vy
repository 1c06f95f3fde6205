# pragma version ~=0.4.0
"""
@title Minimal ERC-20 token for tok's local test chain
@notice Deployed by testpeers/evm_node.py (tokdev_deployToken). The whole
        supply is minted to the deployer. Plain ERC-20 semantics: no fees,
        no hooks, no owner, so tests see exactly what the standard promises.
@dev    Vyper arithmetic is checked, so an overdraft reverts on its own; the
        explicit asserts are there for readable revert reasons in eth_call.
"""

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

name: public(String[64])
symbol: public(String[32])
decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])


@deploy
def __init__(_name: String[64], _symbol: String[32], _decimals: uint8, _supply: uint256):
    self.name = _name
    self.symbol = _symbol
    self.decimals = _decimals
    self.totalSupply = _supply
    self.balanceOf[msg.sender] = _supply
    # A mint is a Transfer from the zero address (ERC-20 recommendation), so
    # indexers that only follow Transfer logs see the initial supply too.
    log Transfer(sender=empty(address), receiver=msg.sender, value=_supply)


@internal
def _transfer(_from: address, _to: address, _value: uint256):
    # Burning by sending to 0x0 is refused, as most deployed tokens do: it is
    # nearly always a caller bug (an unset address), not an intent.
    assert _to != empty(address), "ERC20: transfer to the zero address"
    assert self.balanceOf[_from] >= _value, "ERC20: transfer amount exceeds balance"
    self.balanceOf[_from] -= _value
    self.balanceOf[_to] += _value
    log Transfer(sender=_from, receiver=_to, value=_value)


@external
def transfer(_to: address, _value: uint256) -> bool:
    self._transfer(msg.sender, _to, _value)
    return True


@external
def transferFrom(_from: address, _to: address, _value: uint256) -> bool:
    allowed: uint256 = self.allowance[_from][msg.sender]
    assert allowed >= _value, "ERC20: insufficient allowance"
    # max_value(uint256) means "unlimited" and is never decremented, the
    # common convention that saves wallets a re-approve.
    if allowed != max_value(uint256):
        self.allowance[_from][msg.sender] = allowed - _value
    self._transfer(_from, _to, _value)
    return True


@external
def approve(_spender: address, _value: uint256) -> bool:
    self.allowance[msg.sender][_spender] = _value
    log Approval(owner=msg.sender, spender=_spender, value=_value)
    return True
