//! The reference district: Haizhu, Guangzhou, grown from the Canton Tower scenic area (the
//! flagship) to the sites around it. Coordinates are approximate: plausible on a map of the
//! district, not survey data.

use flywheel_proto::flywheel::common::v1::{Dimension as D, Perspective as P};
use flywheel_proto::flywheel::registry::v1::SiteType as T;

/// Haizhu's sub-districts ("streets").
pub const STREETS: &[(&str, &str)] = &[
    ("chigang", "Chigang"),
    ("xingang", "Xingang"),
    ("pazhou", "Pazhou"),
    ("guanzhou", "Guanzhou"),
    ("huazhou", "Huazhou"),
    ("binjiang", "Binjiang"),
    ("nanzhou", "Nanzhou"),
    ("changgang", "Changgang"),
    ("shayuan", "Shayuan"),
    ("ruibao", "Ruibao"),
];

pub struct DemoSite {
    pub code: &'static str,
    pub name: &'static str,
    pub kind: T,
    pub street: &'static str,
    pub lat: f64,
    pub lng: f64,
    pub radius_m: f64,
    pub flagship: bool,
}

const fn site(code: &'static str, name: &'static str, kind: T, street: &'static str, lat: f64, lng: f64, radius_m: f64) -> DemoSite {
    DemoSite { code, name, kind, street, lat, lng, radius_m, flagship: false }
}

pub const FLAGSHIP: DemoSite = DemoSite {
    code: "canton-tower",
    name: "Canton Tower Scenic Area",
    kind: T::ScenicArea,
    street: "chigang",
    lat: 23.1066,
    lng: 113.3245,
    radius_m: 800.0,
    flagship: true,
};

pub const SITES: &[DemoSite] = &[
    site("haizhu-wetland", "Haizhu National Wetland Park", T::Park, "huazhou", 23.0700, 113.3500, 1500.0),
    site("canton-fair", "Canton Fair Complex, Pazhou", T::ExhibitionVenue, "pazhou", 23.1000, 113.3700, 900.0),
    site("municipal-culture-tourism", "Municipal Culture and Tourism Bureau", T::OfficeBuilding, "binjiang", 23.1120, 113.2900, 120.0),
    site("haizhu-culture-tourism", "Haizhu Culture and Tourism Bureau", T::OfficeBuilding, "nanzhou", 23.0880, 113.2930, 100.0),
    site("haizhu-sports-hall", "Haizhu District Sports Hall", T::SportsVenue, "changgang", 23.0960, 113.3010, 250.0),
    site("haizhu-government", "Haizhu District Government Offices", T::OfficeBuilding, "nanzhou", 23.0835, 113.3180, 150.0),
    site("canton-tower-plaza", "Canton Tower South Plaza", T::ScenicArea, "chigang", 23.1040, 113.3250, 300.0),
    site("chigang-pagoda-park", "Chigang Pagoda Park", T::Park, "chigang", 23.1030, 113.3330, 350.0),
    site("tit-creative-park", "TIT Creative Industry Zone", T::IndustrialPark, "chigang", 23.1030, 113.3180, 400.0),
    site("yuejiang-west-road", "Yuejiang West Road (riverside segment)", T::StreetSegment, "chigang", 23.1085, 113.3150, 600.0),
    site("xingang-east-road", "Xingang East Road segment", T::StreetSegment, "xingang", 23.1010, 113.3400, 700.0),
    site("xingang-west-road", "Xingang West Road segment", T::StreetSegment, "xingang", 23.0990, 113.2950, 700.0),
    site("xingang-community", "Xingang Residential Community", T::ResidentialCommunity, "xingang", 23.0975, 113.3150, 300.0),
    site("sysu-south-gate", "Sun Yat-sen University South Gate Plaza", T::Other, "xingang", 23.0930, 113.2980, 150.0),
    site("pazhou-innovation", "Pazhou Internet Innovation Cluster", T::IndustrialPark, "pazhou", 23.0985, 113.3800, 600.0),
    site("pazhou-avenue", "Pazhou Exhibition Avenue", T::StreetSegment, "pazhou", 23.1030, 113.3650, 800.0),
    site("huangpu-ancient-port", "Huangpu Ancient Port and Village", T::ScenicArea, "pazhou", 23.0890, 113.3980, 500.0),
    site("pazhou-metro-plaza", "Pazhou Metro Station Plaza", T::Other, "pazhou", 23.0960, 113.3620, 150.0),
    site("bio-island", "Guangzhou International Bio Island", T::IndustrialPark, "guanzhou", 23.0800, 113.3700, 900.0),
    site("yingzhou-eco-park", "Yingzhou Ecological Park", T::Park, "guanzhou", 23.0750, 113.3900, 700.0),
    site("guanzhou-community", "Guanzhou Residential Community", T::ResidentialCommunity, "guanzhou", 23.0720, 113.3780, 300.0),
    site("xiaozhou-village", "Xiaozhou Artists' Village", T::ScenicArea, "huazhou", 23.0640, 113.3650, 500.0),
    site("huazhou-community", "Huazhou Residential Community", T::ResidentialCommunity, "huazhou", 23.0780, 113.3420, 300.0),
    site("wetland-north-gate", "Wetland Park North Gate Square", T::Park, "huazhou", 23.0790, 113.3480, 200.0),
    site("binjiang-promenade", "Binjiang Road Promenade", T::StreetSegment, "binjiang", 23.1140, 113.2900, 900.0),
    site("binjiang-community", "Binjiang Residential Community", T::ResidentialCommunity, "binjiang", 23.1100, 113.2780, 300.0),
    site("haizhu-square-bridge", "Haizhu Bridge South Approach", T::StreetSegment, "binjiang", 23.1150, 113.2700, 250.0),
    site("nanzhou-road", "Nanzhou Road segment", T::StreetSegment, "nanzhou", 23.0830, 113.3000, 700.0),
    site("nanzhou-community", "Nanzhou Residential Community", T::ResidentialCommunity, "nanzhou", 23.0800, 113.2900, 300.0),
    site("changgang-road", "Changgang Road segment", T::StreetSegment, "changgang", 23.0930, 113.2800, 700.0),
    site("changgang-metro-plaza", "Changgang Metro Station Plaza", T::Other, "changgang", 23.0950, 113.2760, 150.0),
    site("shayuan-community", "Shayuan Residential Community", T::ResidentialCommunity, "shayuan", 23.0980, 113.2650, 300.0),
    site("shayuan-market-street", "Shayuan Market Street", T::StreetSegment, "shayuan", 23.0950, 113.2700, 400.0),
    site("ruibao-park", "Ruibao Park", T::Park, "ruibao", 23.0720, 113.2850, 300.0),
    site("ruibao-community", "Ruibao Residential Community", T::ResidentialCommunity, "ruibao", 23.0700, 113.2950, 300.0),
    site("haizhu-lake-park", "Haizhu Lake Park", T::Park, "nanzhou", 23.0860, 113.3330, 600.0),
    site("riverside-night-market", "Riverside Night Market", T::Other, "chigang", 23.1095, 113.3300, 200.0),
];

pub struct DemoCategory {
    pub code: &'static str,
    pub name: &'static str,
    pub dimension: D,
    pub perspective: P,
    pub priority: i32,
    pub skills: &'static [&'static str],
}

const fn category(code: &'static str, name: &'static str, dimension: D, perspective: P, priority: i32, skills: &'static [&'static str]) -> DemoCategory {
    DemoCategory { code, name, dimension, perspective, priority, skills }
}

/// A catalog that fills all nine cells of the scenario matrix.
pub const CATEGORIES: &[DemoCategory] = &[
    category("fire-exit-blocked", "Fire exit blocked", D::Safety, P::Production, 1, &["security"]),
    category("crowd-hazard", "Crowding or trip hazard at a venue", D::Safety, P::Production, 2, &["security"]),
    category("broken-railing", "Broken railing or paving", D::Safety, P::Living, 2, &["facilities"]),
    category("fallen-tree", "Fallen or dangerous tree", D::Safety, P::Ecology, 1, &["greenery"]),
    category("venue-litter", "Litter at a venue or business park", D::Image, P::Production, 3, &["cleaning"]),
    category("street-litter", "Litter or graffiti in a street", D::Image, P::Living, 3, &["cleaning"]),
    category("park-litter", "Litter in a park or on the water", D::Image, P::Ecology, 3, &["cleaning"]),
    category("lift-fault", "Lift or escalator out of order", D::Assets, P::Production, 2, &["electrical"]),
    category("street-light-out", "Broken street light", D::Assets, P::Living, 3, &["electrical"]),
    category("irrigation-leak", "Irrigation or water feature leak", D::Assets, P::Ecology, 3, &["water"]),
];

/// Acknowledge and resolve targets in minutes for P1..P4.
pub const SLA_MINUTES: [(i64, i64); 4] = [(15, 240), (30, 480), (120, 1440), (480, 4320)];

pub struct DemoCrew {
    pub code: &'static str,
    pub name: &'static str,
    pub skills: &'static [&'static str],
    /// Streets covered; empty means the whole district.
    pub streets: &'static [&'static str],
    pub lat: f64,
    pub lng: f64,
    pub capacity: i32,
    pub on_call: bool,
}

pub const CREWS: &[DemoCrew] = &[
    DemoCrew { code: "cleaning-north", name: "Cleaning crew North", skills: &["cleaning"], streets: &["chigang", "xingang", "binjiang", "shayuan", "changgang"], lat: 23.105, lng: 113.300, capacity: 12, on_call: false },
    DemoCrew { code: "cleaning-south", name: "Cleaning crew South", skills: &["cleaning"], streets: &["pazhou", "guanzhou", "huazhou", "nanzhou", "ruibao"], lat: 23.080, lng: 113.355, capacity: 12, on_call: false },
    DemoCrew { code: "electrical", name: "Electrical maintenance", skills: &["electrical"], streets: &[], lat: 23.095, lng: 113.320, capacity: 10, on_call: false },
    DemoCrew { code: "security", name: "Venue security team", skills: &["security"], streets: &[], lat: 23.104, lng: 113.340, capacity: 8, on_call: true },
    DemoCrew { code: "greenery", name: "Greenery and trees", skills: &["greenery", "water"], streets: &[], lat: 23.072, lng: 113.350, capacity: 8, on_call: true },
    DemoCrew { code: "facilities", name: "Facilities repair", skills: &["facilities", "electrical"], streets: &[], lat: 23.090, lng: 113.300, capacity: 10, on_call: false },
    DemoCrew { code: "water", name: "Water systems", skills: &["water"], streets: &["huazhou", "guanzhou", "pazhou"], lat: 23.075, lng: 113.370, capacity: 6, on_call: false },
    DemoCrew { code: "tower-rapid", name: "Canton Tower rapid response", skills: &["security", "cleaning", "facilities"], streets: &["chigang"], lat: 23.1066, lng: 113.3245, capacity: 6, on_call: true },
];
