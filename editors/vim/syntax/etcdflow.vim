" Vim syntax for etcdflow flows (.flow, .etcdflow).
if exists("b:current_syntax") | finish | endif
syn keyword etcdflowKeyword flow param hosts cluster step block include point_of_no_return let assert if else for in rollback use on
syn keyword etcdflowOperator and or not
syn keyword etcdflowConstant true false none
syn keyword etcdflowBuiltinVar host local
syn keyword etcdflowType str int bool duration size path url port secret json list map
syn match etcdflowAction "\<\(etcd\.[a-z_]\+\|tls\.ca\|tls\.cert\)\>"
syn match etcdflowAction "^\s*\(let\s\+\w\+\s*=\s*\)\?\zs\(run\|copy\|fetch\|template\|edit\|read\|wait\|fail\|confirm\|log\)\>"
syn match etcdflowNumber "\<\d[0-9_]*\(ms\|s\|m\|h\|d\|B\|KiB\|MiB\|GiB\|TiB\|KB\|MB\|GB\)\?\>"
syn match etcdflowKey "\<\h\w*\ze\s*:[^:]"
syn region etcdflowInterp contained start="{{" end="}}" contains=etcdflowKeyword,etcdflowOperator,etcdflowConstant,etcdflowBuiltinVar,etcdflowNumber
syn region etcdflowString start=+"+ skip=+\\.+ end=+"+ contains=etcdflowInterp
syn region etcdflowRaw start=+'+ end=+'+
syn match etcdflowDoc "##.*$"
syn match etcdflowComment "#.*$" contains=etcdflowDoc
hi def link etcdflowKeyword Keyword
hi def link etcdflowOperator Operator
hi def link etcdflowConstant Constant
hi def link etcdflowBuiltinVar Identifier
hi def link etcdflowType Type
hi def link etcdflowAction Function
hi def link etcdflowNumber Number
hi def link etcdflowKey Label
hi def link etcdflowString String
hi def link etcdflowRaw String
hi def link etcdflowInterp Special
hi def link etcdflowComment Comment
hi def link etcdflowDoc SpecialComment
let b:current_syntax = "etcdflow"
