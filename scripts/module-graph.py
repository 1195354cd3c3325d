#!/usr/bin/env python3
"""Module dependency cycles inside one crate.

Usage: scripts/module-graph.py server/src [DEPTH] [-v]

Builds the graph of `crate::a::b` references between a crate's modules (at DEPTH path
segments, 1 = top-level modules; test modules and comments are left out) and prints its strongly
connected components: each group of modules that reach each other through imports. The
crates of the workspace cannot form cycles (cargo refuses them); inside a crate only this
shows them. `-v` lists the edges inside each group with the files that make them, which is
where to look when breaking one.
"""
import os,re,sys,collections
root=sys.argv[1]
depth=int(sys.argv[2]) if len(sys.argv)>2 and sys.argv[2].isdigit() else 1
mods=collections.defaultdict(set)
edges=collections.defaultdict(lambda: collections.defaultdict(list))
def modname(path):
    rel=os.path.relpath(path,root)[:-3].split(os.sep)
    if rel[-1] in ('mod','lib','main'): rel=rel[:-1]
    return rel
for dp,dn,fn in os.walk(root):
    for f in fn:
        if not f.endswith('.rs'): continue
        p=os.path.join(dp,f)
        m=modname(p)
        if not m: continue
        # a test module in its own file (`#[cfg(test)] mod tests;`) is not a layer
        if f=='tests.rs': continue
        src=open(p).read()
        # comments (doc links included) name modules without depending on them
        src=re.sub(r'//[^\n]*','',src)
        # strip test modules roughly: cut at '#[cfg(test)]\nmod tests'
        i=src.find('#[cfg(test)]\nmod tests')
        if i>=0: src=src[:i]
        me='::'.join(m[:depth])
        for mm in re.finditer(r'crate::((?:[a-z_0-9]+::)*[a-z_0-9]+)',src):
            parts=mm.group(1).split('::')
            tgt='::'.join(parts[:depth])
            if len(parts)<depth: tgt='::'.join(parts)
            if tgt!=me and not me.startswith(tgt+'::') and not tgt.startswith(me+'::'):
                edges[me][tgt].append(os.path.relpath(p,root))
        # super::x from module m is m's parent's x (a top-level module's parent is the crate)
        for mm in re.finditer(r'(?<![a-z_:])super::((?:[a-z_0-9]+::)*[a-z_0-9]+)',src):
            parts=m[:-1]+mm.group(1).split('::')
            tgt='::'.join(parts[:depth])
            if tgt and tgt!=me and not me.startswith(tgt+'::') and not tgt.startswith(me+'::'):
                edges[me][tgt].append(os.path.relpath(p,root))
        # use crate::{a, b::c}
        for mm in re.finditer(r'use crate::\{([^;]*)\};',src,re.S):
            for part in re.split(r',\s*(?![^{]*\})',mm.group(1)):
                part=part.strip()
                if not part: continue
                parts=re.split(r'::',part)
                tgt='::'.join(p_ for p_ in parts[:depth] if re.match(r'^[a-z_0-9]+$',p_))
                if tgt and tgt!=me and not me.startswith(tgt+'::') and not tgt.startswith(me+'::'):
                    edges[me][tgt].append(os.path.relpath(p,root))
# tarjan
nodes=set(edges)|{t for e in edges.values() for t in e}
idx={};low={};st=[];on=set();sccs=[];c=[0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
    for w in edges.get(v,{}):
        if w not in idx: sc(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],idx[w])
    if low[v]==idx[v]:
        comp=[]
        while True:
            w=st.pop();on.discard(w);comp.append(w)
            if w==v: break
        sccs.append(comp)
for v in sorted(nodes):
    if v not in idx: sc(v)
big=[s for s in sccs if len(s)>1]
print("modules:",len(nodes),"cyclic groups:",len(big))
for s in big:
    print(len(s), sorted(s))
if '-v' in sys.argv:
    for s in big:
        ss=set(s)
        for a in sorted(s):
            for b in sorted(edges[a]):
                if b in ss: print(f"  {a} -> {b}: {len(edges[a][b])} refs, e.g. {sorted(set(edges[a][b]))[:3]}")
