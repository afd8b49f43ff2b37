//! HTTP API route matching: `METHOD /path/{param}/{proxy+}` routes, most specific first, the
//! way API Gateway HTTP APIs choose between overlapping routes.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

/// One segment of a route's path template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    /// `{name+}`: one or more remaining segments.
    Greedy(String),
}

impl Segment {
    /// Literal segments beat parameters, which beat greedy parameters.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 0,
            Segment::Param(_) => 1,
            Segment::Greedy(_) => 2,
        }
    }
}

/// What API Gateway checks before it invokes a route's function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteGuard {
    /// Nothing: a public route.
    Public,
    /// A JWT authorizer, with the `iss` and `aud` its configuration requires.
    Jwt(crate::jwt::Expected),
    /// A Lambda authorizer, by the API it belongs to and its name there.
    Lambda { api: String, authorizer: String },
}

/// A route and what serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Upper-case method, or `ANY`.
    pub method: String,
    /// Path template, or `$default`.
    pub path: String,
    /// The binary of the function that serves the route.
    pub function: String,
    /// What guards the route.
    pub guard: RouteGuard,
    segments: Vec<Segment>,
}

impl Route {
    /// Parses a route; fails on a path that API Gateway would refuse.
    pub fn new(
        method: &str,
        path: &str,
        function: &str,
        guard: RouteGuard,
    ) -> Result<Self, String> {
        let segments = if path == "$default" {
            Vec::new()
        } else {
            parse_path(path)?
        };
        Ok(Self {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            function: function.to_string(),
            guard,
            segments,
        })
    }

    /// API Gateway's `routeKey`: `GET /things/{id}`, or `$default`.
    pub fn route_key(&self) -> String {
        if self.is_default() {
            "$default".to_string()
        } else {
            format!("{} {}", self.method, self.path)
        }
    }

    fn is_default(&self) -> bool {
        self.path == "$default"
    }

    fn precedence(&self, other: &Route) -> Ordering {
        // `$default` only catches what no other route matches.
        match (self.is_default(), other.is_default()) {
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            _ => {}
        }
        let by_segments = self
            .segments
            .iter()
            .map(Segment::rank)
            .cmp(other.segments.iter().map(Segment::rank));
        let by_method = (self.method == "ANY").cmp(&(other.method == "ANY"));
        by_segments.then(by_method)
    }

    /// Path parameters if `raw_path` matches, decoded.
    fn matches(&self, method: &str, raw_path: &str) -> Option<BTreeMap<String, String>> {
        if self.method != "ANY" && self.method != method {
            return None;
        }
        if self.is_default() {
            return Some(BTreeMap::new());
        }
        let raw = raw_path.strip_prefix('/')?;
        let parts: Vec<&str> = if raw.is_empty() {
            Vec::new()
        } else {
            raw.split('/').collect()
        };
        let mut parts = parts.into_iter();
        let mut parameters = BTreeMap::new();
        for (index, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Literal(literal) => {
                    if decode(parts.next()?) != *literal {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    let value = decode(parts.next()?);
                    if value.is_empty() {
                        return None;
                    }
                    parameters.insert(name.clone(), value);
                }
                Segment::Greedy(name) => {
                    // The greedy parameter is last (parse_path guarantees it).
                    debug_assert_eq!(index + 1, self.segments.len());
                    let rest: Vec<String> = parts.by_ref().map(decode).collect();
                    if rest.iter().all(String::is_empty) {
                        return None;
                    }
                    parameters.insert(name.clone(), rest.join("/"));
                }
            }
        }
        if parts.next().is_some() {
            return None;
        }
        Some(parameters)
    }
}

fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

fn parse_path(path: &str) -> Result<Vec<Segment>, String> {
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("route path {path:?} must start with /"))?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let raw: Vec<&str> = rest.split('/').collect();
    let mut segments = Vec::with_capacity(raw.len());
    for (index, part) in raw.iter().enumerate() {
        let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => match name.strip_suffix('+') {
                Some(greedy) if index + 1 == raw.len() && !greedy.is_empty() => {
                    Segment::Greedy(greedy.to_string())
                }
                Some(_) => {
                    return Err(format!(
                        "route path {path:?}: a greedy {{name+}} parameter must be the last segment"
                    ))
                }
                None if !name.is_empty() => Segment::Param(name.to_string()),
                None => return Err(format!("route path {path:?} has an empty parameter")),
            },
            None if part.contains('{') || part.contains('}') => {
                return Err(format!(
                    "route path {path:?}: a parameter must be a whole segment"
                ))
            }
            None => Segment::Literal((*part).to_string()),
        };
        segments.push(segment);
    }
    Ok(segments)
}

/// The route that answers a request, with its decoded path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    pub route: &'a Route,
    pub path_parameters: BTreeMap<String, String>,
}

/// All routes of the API, ordered most specific first.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// Orders the routes; fails when two routes share a route key.
    pub fn new(mut routes: Vec<Route>) -> Result<Self, String> {
        routes.sort_by(Route::precedence);
        for pair in routes.windows(2) {
            if let [a, b] = pair {
                if a.route_key() == b.route_key() {
                    return Err(format!(
                        "route {} is served by both {} and {}",
                        a.route_key(),
                        a.function,
                        b.function
                    ));
                }
            }
        }
        Ok(Self { routes })
    }

    /// The most specific route for `method` and the raw (still percent-encoded) path.
    pub fn find(&self, method: &str, raw_path: &str) -> Option<RouteMatch<'_>> {
        self.routes.iter().find_map(|route| {
            route
                .matches(method, raw_path)
                .map(|path_parameters| RouteMatch {
                    route,
                    path_parameters,
                })
        })
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        let routes = routes
            .iter()
            .map(|(method, path)| {
                Route::new(
                    method,
                    path,
                    &format!("{method} {path}"),
                    RouteGuard::Jwt(Default::default()),
                )
                .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        Router::new(routes).unwrap_or_else(|e| panic!("{e}"))
    }

    fn key(router: &Router, method: &str, path: &str) -> Option<String> {
        router.find(method, path).map(|m| m.route.route_key())
    }

    #[test]
    fn literal_segments_beat_parameters_and_greedy() {
        let r = router(&[
            ("ANY", "/{proxy+}"),
            ("GET", "/things/{id}"),
            ("GET", "/things/special"),
            ("ANY", "/things/{id}"),
            ("GET", "/things/{id}/{rest+}"),
            ("GET", "/things"),
        ]);
        assert_eq!(
            key(&r, "GET", "/things/special").as_deref(),
            Some("GET /things/special")
        );
        assert_eq!(
            key(&r, "GET", "/things/7").as_deref(),
            Some("GET /things/{id}")
        );
        assert_eq!(
            key(&r, "DELETE", "/things/7").as_deref(),
            Some("ANY /things/{id}")
        );
        assert_eq!(key(&r, "GET", "/things").as_deref(), Some("GET /things"));
        assert_eq!(
            key(&r, "GET", "/things/7/a/b").as_deref(),
            Some("GET /things/{id}/{rest+}")
        );
        assert_eq!(
            key(&r, "POST", "/other/x").as_deref(),
            Some("ANY /{proxy+}")
        );
        assert_eq!(key(&r, "POST", "/").as_deref(), None);
        let root = router(&[("GET", "/")]);
        assert_eq!(key(&root, "GET", "/").as_deref(), Some("GET /"));
        assert_eq!(key(&root, "GET", "/x"), None);
    }

    #[test]
    fn unmatched_paths_and_methods_find_nothing() {
        let r = router(&[("GET", "/things/{id}"), ("POST", "/things")]);
        assert_eq!(key(&r, "GET", "/things"), None);
        assert_eq!(key(&r, "GET", "/things/"), None);
        assert_eq!(key(&r, "GET", "/things/1/2"), None);
        assert_eq!(key(&r, "PUT", "/things/1"), None);
        assert_eq!(key(&r, "GET", "things/1"), None);
    }

    #[test]
    fn default_route_catches_the_rest() {
        let r = router(&[("ANY", "$default"), ("GET", "/a")]);
        assert_eq!(key(&r, "GET", "/a").as_deref(), Some("GET /a"));
        assert_eq!(key(&r, "PATCH", "/zzz").as_deref(), Some("$default"));
    }

    #[test]
    fn decodes_path_parameters() {
        let r = router(&[("GET", "/files/{name}"), ("GET", "/raw/{path+}")]);
        let found = r.find("GET", "/files/a%20b%2Fc%C3%A9");
        assert_eq!(
            found.map(|m| m.path_parameters),
            Some(BTreeMap::from([("name".to_string(), "a b/cé".to_string())]))
        );
        let found = r.find("GET", "/raw/x/y%3Fz");
        assert_eq!(
            found.map(|m| m.path_parameters),
            Some(BTreeMap::from([("path".to_string(), "x/y?z".to_string())]))
        );
        // Invalid UTF-8 after decoding does not panic.
        assert!(r.find("GET", "/files/%FF%FE").is_some());
    }

    #[test]
    fn rejects_bad_and_duplicate_routes() {
        assert!(Route::new("GET", "things", "f", RouteGuard::Public).is_err());
        assert!(Route::new("GET", "/a/{p+}/b", "f", RouteGuard::Public).is_err());
        assert!(Route::new("GET", "/a/x{p}", "f", RouteGuard::Public).is_err());
        assert!(Route::new("GET", "/a/{}", "f", RouteGuard::Public).is_err());
        let a = Route::new("GET", "/a", "f", RouteGuard::Public).unwrap_or_else(|e| panic!("{e}"));
        let b = Route::new("get", "/a", "g", RouteGuard::Public).unwrap_or_else(|e| panic!("{e}"));
        assert!(Router::new(vec![a, b]).is_err());
    }
}
