import re,statistics
runs={'before':['a','b','c'],'after':['a','b','c']}
def parse(d):
    t=open(d+'/report.md').read().split('\n')
    out={}
    sec=None
    for l in t:
        if l.startswith('## '): sec=l
        if not l.startswith('| ') or '---' in l: continue
        c=[x.strip() for x in l.strip('|').split('|')]
        if sec.startswith('## Serial') and c[1]=='ringkeeper':
            out['serial %s p50 us'%c[0]]=float(c[2])
        if sec.startswith('## Throughput') and c[2]=='ringkeeper':
            out['throughput %s x%s ops/s'%(c[0],c[1])]=float(c[3].split()[0])
        if sec.startswith('## Ensemble') and c[1]=='ringkeeper':
            out['ensemble 3 10:1 x%s ops/s'%c[0]]=float(c[2])
            out['ensemble 3 10:1 x%s write p50 us'%c[0]]=float(c[6])
        if sec.startswith('## Machine') and c[0]=='write 4 KiB + fdatasync':
            out['fdatasync p50 us (probe)']=float(re.search(r'p50 ([\d.]+)',c[1]).group(1))
    return out
data={k:[parse('%s-%s'%(k,r)) for r in v] for k,v in runs.items()}
keys=[k for k in data['before'][0] if k.startswith('serial') and any(x in k for x in ['getData','setData','create','multi'])]
keys+= [k for k in data['before'][0] if k.startswith('throughput')]+[k for k in data['before'][0] if k.startswith('ensemble')]+['fdatasync p50 us (probe)']
def f(x): return ('%.1f'%x) if x<1000 else '%d'%x
print('| measure | before, runs a/b/c | after, runs a/b/c | median before | median after | after / before |')
print('|---|---|---|---|---|---|')
for k in keys:
    b=[d[k] for d in data['before']]; a=[d[k] for d in data['after']]
    mb=statistics.median(b); ma=statistics.median(a)
    print('| %s | %s | %s | %s | %s | %.2f |'%(k,' / '.join(map(f,b)),' / '.join(map(f,a)),f(mb),f(ma),ma/mb))
