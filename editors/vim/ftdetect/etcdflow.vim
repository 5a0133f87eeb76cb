au BufRead,BufNewFile *.flow,*.etcdflow setfiletype etcdflow
