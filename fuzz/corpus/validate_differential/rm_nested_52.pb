
Ü
„
deepû*ø
õ*ò
ï*ì
é*æ
ã*à
Ý*Ú
×*Ô
Ñ*Î
Ë*È
Å*Â
¿*¼
¹*¶
³*°
­*ª
§*¤
¡*ž
›*˜
•*’
*Œ
‰*†
ƒ*€
~*|
z*x
v*t
r*p
n*l
j*h
f*d
b*`
^*\
Z*X
V*T
R*P
N*L
J*H
F*D
B*@
>*<
:*8
6*4
2*0
.*,
**(
&*$
"* 
*
*
*
*
*

*
*
Q
'https://opentelemetry.io/schemas/1.26.0serviceservice.name"service.versionR
'

fuzz.scope1.0

scope.kind
seed'https://opentelemetry.io/schemas/1.26.0'https://opentelemetry.io/schemas/1.26.0